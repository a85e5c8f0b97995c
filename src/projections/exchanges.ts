// The exchange projection (DD 48): one record per exchange base URL, folded
// from shared events with the merge rules of DESIGN.md, and the deciders of
// the exchange requests. Statuses that depend on the clock (expired
// denominations) or on this device's in-flight updates are derived at query
// time, never stored, so the record stays a function of the event set.
//
//   ["ex", url]            ExchangeRecord   hot: statuses, registers, a summary of /keys
//   ["exk", url, device]   KeysFactsData    cold: the full /keys of that device's latest write
//
// The hot record is rewritten by every withdrawal (the exchange becomes used,
// its activity moves); the /keys facts (about 1.4 KB) are written only when
// they change, and read only by the update decider.
import { WalletError } from "../errors.ts";
import { baseUrl, just, keysFacts, noEvents, type Decision, type EventData, type KeysFactsData, type SharedDraft } from "../events/catalogue.ts";
import { array, bool, literal, nat, nullable, num, object, optional, str, tuple, union } from "../events/schema.ts";
import { emptyClock, join, type VectorClock } from "../events/clock.ts";
import type { SharedEvent } from "../events/envelope.ts";
import type { Key, Projection, RecordCodec, Records } from "../events/records.ts";
import {
  clockFromJson,
  clockJsonShape,
  clockToJson,
  contribute,
  contributionsFromJson,
  contributionsToJson,
  pruneContributions,
  pruneRegister,
  readRegister,
  registerFromJson,
  registerJsonShape,
  registerToJson,
  survives,
  writeRegister,
  type ClockJson,
  type Contributions,
  type Register,
  type RegisterJson,
} from "../merge/registers.ts";
import { canonicalJson } from "../codec/canonical-json.ts";
import { getResources } from "./resources.ts";

export type ExchangeEntryStatus = "preset" | "ephemeral" | "used";
export type ExchangeUpdateStatus =
  | "initial"
  | "initial-update"
  | "suspended"
  | "unavailable-update"
  | "ready"
  | "ready-update";
export type ExchangeTosStatus = "pending" | "proposed" | "accepted";

export type UpdateOutcome = { ok: true } | { ok: false; code: string; message: string };
export type TosOffer = { etag: string; termsVersion?: string; languages: string[] };

/**
 * What the views need of a /keys answer: currency, master key, and when some
 * denomination can be withdrawn (the union of [stampStart, stampExpireWithdraw)
 * in seconds, `null` for "never" expiring).
 */
export interface KeysSummary {
  currency: string;
  masterPub: string;
  withdrawable: [number, number | null][];
}

/** One exchange as the log implies it. Every field merges per DESIGN.md's table. */
export interface ExchangeRecord {
  url: string;
  /** Entry-status lattice preset < ephemeral < used: who contributed to each level. */
  preset: Contributions;
  ephemeral: Contributions;
  used: Contributions;
  /**
   * Interactions that keep the entry without lifting its level (ToS accepted or forgotten, suspended or
   * not): against a concurrent delete they win like an add, and the entry stays (ephemeral, if nothing
   * else survives). Else they would outlive the delete unseen and come back with a later re-add.
   */
  touched: Contributions;
  /** Join of the causal pasts of the deletes of this exchange (observed-remove). */
  removed: VectorClock;
  /** Per device, the summary of its latest /keys; the facts are in ["exk", url, device]. */
  keys: Register<KeysSummary>;
  /** Outcome of the latest update attempt, success or failure (LWW). */
  outcome: Register<UpdateOutcome>;
  tos: Register<TosOffer>;
  tosAccepted: Register<string | null>;
  suspended: Register<boolean>;
  /** Wall-clock time of the latest event that used or updated it (for ephemeral GC). */
  activity: Register<number>;
}

export interface ExchangeListItem {
  exchangeBaseUrl: string;
  currency?: string;
  masterPub?: string;
  exchangeEntryStatus: ExchangeEntryStatus;
  exchangeUpdateStatus: ExchangeUpdateStatus;
  tosStatus: ExchangeTosStatus;
  lastUpdateErrorInfo?: { code: string; message: string };
}

export const exchangeKey = (url: string): Key => ["ex", url];
const keysKey = (url: string, device: string): Key => ["exk", url, device];

function emptyRecord(url: string): ExchangeRecord {
  return {
    url,
    preset: new Map(),
    ephemeral: new Map(),
    used: new Map(),
    touched: new Map(),
    removed: emptyClock(),
    keys: new Map(),
    outcome: new Map(),
    tos: new Map(),
    tosAccepted: new Map(),
    suspended: new Map(),
    activity: new Map(),
  };
}

/** The intervals (seconds) in which some denomination can be withdrawn, merged and sorted. */
export function withdrawableIntervals(keys: KeysFactsData): [number, number | null][] {
  const spans = keys.denominations
    .filter((d) => d.stampStart !== "never")
    .map((d): [number, number | null] => [d.stampStart as number, d.stampExpireWithdraw === "never" ? null : d.stampExpireWithdraw])
    .filter(([a, b]) => b === null || b > a)
    .sort((x, y) => x[0] - y[0]);
  const out: [number, number | null][] = [];
  for (const [a, b] of spans) {
    const last = out[out.length - 1];
    if (last && (last[1] === null || a <= last[1])) {
      if (last[1] !== null && (b === null || b > last[1])) last[1] = b;
    } else out.push([a, b]);
  }
  return out;
}

export const summarizeKeys = (keys: KeysFactsData): KeysSummary => ({
  currency: keys.currency,
  masterPub: keys.masterPub,
  withdrawable: withdrawableIntervals(keys),
});

// ---------------------------------------------------------------- stored form

type ExchangeJson = {
  url: string;
  preset: ClockJson;
  ephemeral: ClockJson;
  used: ClockJson;
  touched?: ClockJson;
  removed: ClockJson;
  keys: RegisterJson<KeysSummary>;
  outcome: RegisterJson<UpdateOutcome>;
  tos: RegisterJson<TosOffer>;
  tosAccepted: RegisterJson<string | null>;
  suspended: RegisterJson<boolean>;
  activity: RegisterJson<number>;
};

const same = <T>(v: T): T => v;

const keysSummaryShape = object({ currency: str, masterPub: str, withdrawable: array(tuple(num, nullable(num))) });
const outcomeShape = union(object({ ok: literal(true) }), object({ ok: literal(false), code: str, message: str }));
const tosOfferShape = object({ etag: str, termsVersion: optional(str), languages: array(str) });

const exchangeCodec: RecordCodec<ExchangeRecord> = {
  shape: object({
    url: baseUrl,
    preset: clockJsonShape,
    ephemeral: clockJsonShape,
    used: clockJsonShape,
    touched: optional(clockJsonShape),
    removed: clockJsonShape,
    keys: registerJsonShape(keysSummaryShape),
    outcome: registerJsonShape(outcomeShape),
    tos: registerJsonShape(tosOfferShape),
    tosAccepted: registerJsonShape(nullable(str)),
    suspended: registerJsonShape(bool),
    activity: registerJsonShape(nat),
  }),
  encode: (r): ExchangeJson => ({
    url: r.url,
    preset: contributionsToJson(r.preset),
    ephemeral: contributionsToJson(r.ephemeral),
    used: contributionsToJson(r.used),
    // Absent when empty: a record without interactions keeps the form it had before this field.
    ...(r.touched.size > 0 ? { touched: contributionsToJson(r.touched) } : {}),
    removed: clockToJson(r.removed),
    keys: registerToJson(r.keys, same),
    outcome: registerToJson(r.outcome, same),
    tos: registerToJson(r.tos, same),
    tosAccepted: registerToJson(r.tosAccepted, same),
    suspended: registerToJson(r.suspended, same),
    activity: registerToJson(r.activity, same),
  }),
  decode: (json) => {
    const j = json as ExchangeJson;
    return {
      url: j.url,
      preset: contributionsFromJson(j.preset),
      ephemeral: contributionsFromJson(j.ephemeral),
      used: contributionsFromJson(j.used),
      touched: j.touched === undefined ? new Map() : contributionsFromJson(j.touched),
      removed: clockFromJson(j.removed),
      keys: registerFromJson(j.keys, same),
      outcome: registerFromJson(j.outcome, same),
      tos: registerFromJson(j.tos, same),
      tosAccepted: registerFromJson(j.tosAccepted, same),
      suspended: registerFromJson(j.suspended, same),
      activity: registerFromJson(j.activity, same),
    };
  },
};

/** The cold part: the full /keys facts, as the event that fetched them checked them. */
const keysFactsCodec: RecordCodec<unknown> = { shape: keysFacts, encode: same, decode: same };

// ---------------------------------------------------------------- evolve

/** The URL an event concerns, for events that touch an exchange record. */
function exchangeOf(e: SharedEvent): string | undefined {
  switch (e.type) {
    case "exchange-added":
    case "exchange-keys-fetched":
    case "exchange-update-failed":
    case "exchange-tos-offered":
    case "exchange-tos-accepted":
    case "exchange-tos-forgotten":
    case "exchange-suspended":
    case "exchange-unsuspended":
    case "exchange-deleted":
    case "coins-withdrawn":
    case "coins-refreshed":
      return e.data.url;
    case "coin-spent":
    case "withdrawal-group-aborted":
      return undefined;
    default:
      return assertNever(e);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}

/** evolve(record, event): changes the record in place (it belongs to the running transaction). */
export function evolveExchange(records: Records, r: ExchangeRecord, e: SharedEvent): void {
  switch (e.type) {
    case "exchange-added":
      contribute(e.data.preset ? r.preset : r.ephemeral, e);
      writeRegister(r.activity, e, e.time);
      return;
    case "exchange-keys-fetched":
      contribute(r.ephemeral, e);
      writeRegister(r.keys, e, summarizeKeys(e.data.keys));
      records.put(keysKey(r.url, e.device), e.data.keys);
      writeRegister<UpdateOutcome>(r.outcome, e, { ok: true });
      writeRegister(r.activity, e, e.time);
      return;
    case "exchange-update-failed":
      contribute(r.ephemeral, e);
      writeRegister<UpdateOutcome>(r.outcome, e, { ok: false, code: e.data.code, message: e.data.message });
      writeRegister(r.activity, e, e.time);
      return;
    case "exchange-tos-offered": {
      const offer: TosOffer = { etag: e.data.etag, languages: e.data.languages };
      if (e.data.termsVersion !== undefined) offer.termsVersion = e.data.termsVersion;
      contribute(r.ephemeral, e);
      writeRegister(r.tos, e, offer);
      return;
    }
    case "exchange-tos-accepted":
      contribute(r.touched, e);
      writeRegister<string | null>(r.tosAccepted, e, e.data.etag);
      return;
    case "exchange-tos-forgotten":
      contribute(r.touched, e);
      writeRegister<string | null>(r.tosAccepted, e, null);
      return;
    case "exchange-suspended":
      contribute(r.touched, e);
      writeRegister(r.suspended, e, true);
      return;
    case "exchange-unsuspended":
      contribute(r.touched, e);
      writeRegister(r.suspended, e, false);
      return;
    case "exchange-deleted": {
      r.removed = join(r.removed, e.deps);
      for (const c of [r.preset, r.ephemeral, r.used, r.touched]) pruneContributions(c, r.removed);
      for (const d of pruneRegister(r.keys, r.removed)) records.remove(keysKey(r.url, d));
      for (const reg of [r.outcome, r.tos, r.tosAccepted, r.suspended, r.activity] as Register<unknown>[]) pruneRegister(reg, r.removed);
      return;
    }
    case "coins-withdrawn":
    case "coins-refreshed":
      contribute(r.used, e);
      writeRegister(r.activity, e, e.time);
      return;
    case "coin-spent":
    case "withdrawal-group-aborted":
      return;
    default:
      assertNever(e);
  }
}

export const exchangesProjection: Projection = {
  name: "exchanges",
  tables: { ex: exchangeCodec, exk: keysFactsCodec },
  evolveShared(records, e) {
    const url = exchangeOf(e);
    if (url === undefined) return;
    const key = exchangeKey(url);
    const r = records.get<ExchangeRecord>(key) ?? emptyRecord(url);
    evolveExchange(records, r, e);
    records.put(key, r);
  },
};

// ---------------------------------------------------------------- derivations

export function entryStatus(r: ExchangeRecord): ExchangeEntryStatus | undefined {
  if (survives(r.used, r.removed)) return "used";
  if (survives(r.ephemeral, r.removed)) return "ephemeral";
  if (survives(r.preset, r.removed)) return "preset";
  if (survives(r.touched, r.removed)) return "ephemeral";
  return undefined;
}

/** The current /keys summary (currency, master key, withdrawable intervals), if any. */
export const currentKeys = (r: ExchangeRecord) => readRegister(r.keys, r.removed)?.v;
/** Which recorded /keys is current: the winning write's device and lamport (what an ETag validated is named by it). */
export const keysStamp = (r: ExchangeRecord): string | undefined => {
  const w = readRegister(r.keys, r.removed);
  return w && `${w.device}:${w.l}`;
};
export const isSuspended = (r: ExchangeRecord) => readRegister(r.suspended, r.removed)?.v === true;
export const lastActivity = (r: ExchangeRecord) => readRegister(r.activity, r.removed)?.v;
export const currentTos = (r: ExchangeRecord) => readRegister(r.tos, r.removed)?.v;
export const acceptedTos = (r: ExchangeRecord) => readRegister(r.tosAccepted, r.removed)?.v ?? undefined;

/** The full facts of the current /keys (the cold record of the winning device). */
export function currentKeysFacts(records: Records, r: ExchangeRecord): KeysFactsData | undefined {
  const w = readRegister(r.keys, r.removed);
  return w && records.get<KeysFactsData>(keysKey(r.url, w.device));
}

export function tosStatus(r: ExchangeRecord): ExchangeTosStatus {
  const offer = currentTos(r);
  if (!offer) return "pending";
  return acceptedTos(r) === offer.etag ? "accepted" : "proposed";
}

/** True when some denomination can be withdrawn at `nowMs`. */
export function hasWithdrawableDenomination(keys: KeysSummary, nowMs: number): boolean {
  const now = Math.floor(nowMs / 1000);
  return keys.withdrawable.some(([start, end]) => start <= now && (end === null || end > now));
}

/**
 * The DD 48 view of one record at `nowMs`. `local` is this device's update
 * state: an update in flight, and why /terms last failed. Undefined when the
 * entry does not exist (never added, or deleted).
 */
export function exchangeView(
  r: ExchangeRecord,
  nowMs: number,
  local: { inFlight: number; termsError?: { code: string; message: string } },
): ExchangeListItem | undefined {
  const updating = local.inFlight > 0;
  const entry = entryStatus(r);
  if (!entry) return undefined;
  const keys = currentKeys(r);
  const outcome = readRegister(r.outcome, r.removed)?.v;
  const item: ExchangeListItem = {
    exchangeBaseUrl: r.url,
    exchangeEntryStatus: entry,
    exchangeUpdateStatus: "initial",
    tosStatus: tosStatus(r),
  };
  if (keys) {
    item.currency = keys.currency;
    item.masterPub = keys.masterPub;
  }
  const error = outcome && !outcome.ok ? { code: outcome.code, message: outcome.message } : undefined;
  if (isSuspended(r)) {
    item.exchangeUpdateStatus = "suspended";
  } else if (!keys) {
    // A preset nobody tried to update needs no update; anything else awaits its first /keys. An
    // exchange that answered with an incompatible protocol is unavailable (DD 48), first contact or not.
    if (error?.code === "exchange-version-incompatible") item.exchangeUpdateStatus = "unavailable-update";
    else item.exchangeUpdateStatus = entry === "preset" && !outcome && !updating ? "initial" : "initial-update";
    if (error) item.lastUpdateErrorInfo = error;
  } else if (error) {
    item.exchangeUpdateStatus = "unavailable-update";
    item.lastUpdateErrorInfo = error;
  } else if (!hasWithdrawableDenomination(keys, nowMs)) {
    item.exchangeUpdateStatus = "unavailable-update";
    item.lastUpdateErrorInfo = {
      code: "exchange-denominations-expired",
      message: "the exchange offers no denomination that can still be withdrawn",
    };
  } else {
    item.exchangeUpdateStatus = updating ? "ready-update" : "ready";
  }
  // DD 48: a pending ToS reflects why its download failed.
  if (!item.lastUpdateErrorInfo && item.tosStatus === "pending" && local.termsError) {
    item.lastUpdateErrorInfo = { ...local.termsError };
  }
  return item;
}

// ---------------------------------------------------------------- reading

export function getExchangeRecord(records: Records, url: string): ExchangeRecord | undefined {
  return records.get<ExchangeRecord>(exchangeKey(url));
}

/** The record of an exchange that exists (some entry level survives), else `exchange-unknown`. */
export function requireExchange(records: Records, url: string): ExchangeRecord {
  const r = getExchangeRecord(records, url);
  if (!r || !entryStatus(r)) throw new WalletError("exchange-unknown", `no exchange ${url} in this wallet`, { url });
  return r;
}

export function* allExchangeRecords(records: Records): Iterable<ExchangeRecord> {
  for (const { value } of records.entries<ExchangeRecord>(["ex"])) yield value;
}

// ---------------------------------------------------------------- deciders
//
// Each is decide(records, request) → { events, result }: pure, reading only
// the records; the request is already validated (canonical URL, types).

export function decideAddExchange(records: Records, req: { url: string; preset: boolean }): Decision {
  const r = getExchangeRecord(records, req.url);
  const entry = r ? entryStatus(r) : undefined;
  // Adding again is a no-op, except that a user's explicit add lifts a preset to ephemeral.
  if (entry && (req.preset || entry !== "preset")) return noEvents(undefined);
  return just({ type: "exchange-added", data: { url: req.url, preset: req.preset } });
}

export function decideSetTosAccepted(records: Records, req: { url: string; etag: string }): Decision {
  const r = requireExchange(records, req.url);
  if (acceptedTos(r) === req.etag) return noEvents(undefined);
  return just({ type: "exchange-tos-accepted", data: { url: r.url, etag: req.etag } });
}

export function decideSetTosForgotten(records: Records, req: { url: string }): Decision {
  const r = requireExchange(records, req.url);
  if (acceptedTos(r) === undefined) return noEvents(undefined);
  return just({ type: "exchange-tos-forgotten", data: { url: r.url } });
}

export function decideSetSuspended(records: Records, req: { url: string; suspended: boolean }): Decision {
  const r = requireExchange(records, req.url);
  if (isSuspended(r) === req.suspended) return noEvents(undefined);
  return just({ type: req.suspended ? "exchange-suspended" : "exchange-unsuspended", data: { url: r.url } });
}

export function decideDeleteExchange(records: Records, req: { url: string; purge: boolean }): Decision {
  const r = requireExchange(records, req.url);
  const res = getResources(records, r.url);
  if (res.hasResources && !req.purge) {
    throw new WalletError(
      "exchange-has-resources",
      `exchange ${r.url} still holds ${res.coins} live coin(s) with value left and ${res.withdrawalGroups} pending withdrawal group(s); delete with purge to remove them`,
      { url: r.url, ...res },
    );
  }
  return just({ type: "exchange-deleted", data: { url: r.url, purge: req.purge } });
}

/**
 * Ephemeral exchanges nobody used for `gcAfterMs` (and that hold nothing) are
 * deleted; the result names them. Presets, used and suspended entries stay.
 */
export function decideCollectEphemeral(records: Records, req: { now: number; gcAfterMs: number }): Decision<string[]> {
  const collected: string[] = [];
  for (const r of allExchangeRecords(records)) {
    // A preset lifted to ephemeral (updated, its ToS looked at) stays: a delete would drop its preset level too.
    if (entryStatus(r) !== "ephemeral" || isSuspended(r) || survives(r.preset, r.removed)) continue;
    const last = lastActivity(r) ?? 0;
    if (last + req.gcAfterMs <= req.now && !getResources(records, r.url).hasResources) collected.push(r.url);
  }
  return { events: collected.map((url) => ({ type: "exchange-deleted", data: { url, purge: false } })), result: collected };
}

/** What one update run learned, as the exchange client reported it. */
export interface UpdateFindings {
  keys: { ok: true; notModified: true } | { ok: true; notModified: false; keys: KeysFactsData } | { ok: false; code: string; message: string };
  terms?: TermsOffer;
  /** Protocol compatibility of the /keys version with this engine. */
  compatible: (version: string) => boolean;
}

export type TermsOffer = { etag: string; termsVersion?: string; availableLanguages: string[] };

/**
 * Why a fetched /keys is not adopted over `known` (the recorded keys): an incompatible protocol
 * version or a new master public key. Undefined when it may be adopted.
 */
export function keysRejection(
  known: KeysFactsData | undefined,
  keys: KeysFactsData,
  compatible: (version: string) => boolean,
): { code: "exchange-version-incompatible" | "exchange-master-pub-changed"; message: string } | undefined {
  if (!compatible(keys.version)) {
    return { code: "exchange-version-incompatible", message: `exchange speaks protocol ${keys.version}, incompatible with this wallet` };
  }
  if (known && known.masterPub !== keys.masterPub) {
    return { code: "exchange-master-pub-changed", message: `exchange now advertises master key ${keys.masterPub}, recorded is ${known.masterPub}` };
  }
  return undefined;
}

/**
 * Records an update's outcome. A changed master key or an incompatible
 * version is recorded as a failure and the new /keys is not adopted: the
 * exchange becomes `unavailable-update` and keeps the facts it had.
 */
export function decideUpdateOutcome(records: Records, req: { url: string; findings: UpdateFindings }): Decision {
  const r = requireExchange(records, req.url);
  const url = r.url;
  const f = req.findings;
  const out: SharedDraft[] = [];
  const known = currentKeysFacts(records, r);
  const k = f.keys;
  const last = readRegister(r.outcome, r.removed)?.v;
  // The same failure again changes nothing any device needs to know: the attempt itself is local.
  // A rejected /keys counts too, or every retry of the scheduler would append one more shared event.
  const failed = (code: string, message: string): void => {
    if (!(last && !last.ok && last.code === code && last.message === message)) {
      out.push({ type: "exchange-update-failed", data: { url, code, message } });
    }
  };
  const rejected = k.ok && !k.notModified ? keysRejection(known, k.keys, f.compatible) : undefined;
  if (!k.ok) {
    failed(k.code, k.message);
  } else if (k.notModified) {
    if (known && last?.ok !== true) out.push({ type: "exchange-keys-fetched", data: { url, keys: known } });
  } else if (rejected) {
    failed(rejected.code, rejected.message);
  } else if (last?.ok !== true || !known || canonicalKeysDiffer(known, k.keys)) {
    out.push({ type: "exchange-keys-fetched", data: { url, keys: k.keys } });
  }
  if (f.terms) out.push(...tosOffered(r, f.terms));
  return { events: out, result: undefined };
}

/** Records the ToS the exchange offers, when its etag is not the one already recorded. */
export function decideTosOffered(records: Records, req: { url: string; terms: TermsOffer }): Decision {
  return { events: tosOffered(requireExchange(records, req.url), req.terms), result: undefined };
}

function tosOffered(r: ExchangeRecord, terms: TermsOffer): SharedDraft[] {
  if (currentTos(r)?.etag === terms.etag) return [];
  const data: EventData<"exchange-tos-offered"> = { url: r.url, etag: terms.etag, languages: terms.availableLanguages };
  if (terms.termsVersion !== undefined) data.termsVersion = terms.termsVersion;
  return [{ type: "exchange-tos-offered", data }];
}

function canonicalKeysDiffer(a: KeysFactsData, b: KeysFactsData): boolean {
  // Canonical form: records read back from LMDB need not keep key order.
  return canonicalJson(a) !== canonicalJson(b);
}

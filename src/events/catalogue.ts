// The event catalogue: every fact the engine records, past tense, data only.
// Adding an event type is one entry in `catalogue` below; its TypeScript type,
// its runtime validation and its scope (shared vs device-local) follow.
import { AMOUNT_MAX_VALUE } from "../codec/amounts.ts";
import { canonicalizeBaseUrl } from "../codec/url.ts";
import { isDeviceId } from "./clock.ts";
import { isKeySafeText } from "./records.ts";
import {
  array,
  bool,
  boundedStr,
  literal,
  nat,
  nonEmptyStr,
  num,
  object,
  optional,
  pattern,
  record,
  refine,
  str,
  union,
  type Infer,
  type Schema,
} from "./schema.ts";

/** Amounts inside events are in canonical form, so sums and hashes agree on every device. */
export const deviceId = pattern("a device id ([A-Za-z0-9_-]{1,64}, not __proto__)", isDeviceId);

/** Ids (coins, groups, spends, etags) end up in store keys: bounded like the requests that make them, and key-safe. */
const id = refine(boundedStr(512), isKeySafeText, "holds a byte 0x00-0x04 or a lone surrogate, which a store key cannot hold");

// Canonical amounts match this exactly (no leading zeros, no trailing fraction zeros); the value bound is checked apart.
const CANONICAL_AMOUNT = /^[A-Za-z][A-Za-z0-9_-]{0,11}:(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{0,7}[1-9])?$/;

export const amount = pattern("a canonical amount string (CUR:V[.F])", (s) => {
  if (!CANONICAL_AMOUNT.test(s)) return false;
  // Values of up to 15 digits are below 2^52 (16 digits): only longer ones need the number.
  const from = s.indexOf(":") + 1;
  const dot = s.indexOf(".", from);
  const to = dot < 0 ? s.length : dot;
  return to - from < 16 || Number(s.slice(from, to)) <= AMOUNT_MAX_VALUE;
});

// Few distinct URLs pass through a wallet: remember the ones already found canonical (URL parsing is the costly part).
const canonicalUrls = new Set<string>();
export const baseUrl = pattern("a canonical base URL (scheme://host/path/) of at most 1024 bytes", (s) => {
  if (canonicalUrls.has(s)) return true;
  try {
    if (s.length > 1024 || canonicalizeBaseUrl(s) !== s) return false;
  } catch {
    return false;
  }
  if (canonicalUrls.size < 4096) canonicalUrls.add(s);
  return true;
});

const timestamp = union(nat, literal("never"));

const denomination = object({
  denomPubHash: id,
  cipher: str,
  value: amount,
  feeWithdraw: amount,
  feeDeposit: amount,
  feeRefresh: amount,
  feeRefund: amount,
  stampStart: timestamp,
  stampExpireWithdraw: timestamp,
  stampExpireDeposit: timestamp,
  stampExpireLegal: timestamp,
});

const signkey = object({ key: str, stampStart: timestamp, stampExpire: timestamp, stampEnd: timestamp });

/** The parsed facts of one `/keys` answer, as recorded in the log. */
export const keysFacts = object({
  currency: nonEmptyStr,
  masterPub: nonEmptyStr,
  version: nonEmptyStr,
  reserveClosingDelayUs: union(nat, literal("forever")),
  listIssueDate: timestamp,
  denominations: array(denomination),
  signkeys: array(signkey),
});
export type KeysFactsData = Infer<typeof keysFacts>;

const coin = object({
  coinPub: id,
  denomPubHash: id,
  value: amount,
  coinPriv: optional(str),
  blindingKey: optional(str),
  denomSig: optional(str),
});
export type CoinData = Infer<typeof coin>;

type Scope = "shared" | "local";
const shared = <S extends Schema<unknown>>(schema: S) => ({ scope: "shared" as const, schema });
const local = <S extends Schema<unknown>>(schema: S) => ({ scope: "local" as const, schema });

export const catalogue = {
  // Exchanges (DD 48).
  "exchange-added": shared(object({ url: baseUrl, preset: bool })),
  "exchange-keys-fetched": shared(object({ url: baseUrl, keys: keysFacts })),
  "exchange-update-failed": shared(object({ url: baseUrl, code: nonEmptyStr, message: str })),
  "exchange-tos-offered": shared(
    object({ url: baseUrl, etag: id, termsVersion: optional(str), languages: array(str) }),
  ),
  "exchange-tos-accepted": shared(object({ url: baseUrl, etag: id })),
  "exchange-tos-forgotten": shared(object({ url: baseUrl })),
  "exchange-suspended": shared(object({ url: baseUrl })),
  "exchange-unsuspended": shared(object({ url: baseUrl })),
  // What a delete observed is its envelope's `deps`: the author's whole causal past.
  "exchange-deleted": shared(object({ url: baseUrl, purge: bool })),

  // Coins.
  "coins-withdrawn": shared(
    refine(
      object({ url: baseUrl, withdrawalGroupId: id, amount: optional(amount), coins: array(coin) }),
      (d) => d.coins.length > 0 || d.amount !== undefined,
      "needs coins, or an amount when the withdrawal is still pending",
    ),
  ),
  "coin-spent": shared(object({ spendId: id, coinPub: id, amount, purchaseId: optional(str) })),
  "coins-refreshed": shared(
    object({
      refreshGroupId: id,
      url: baseUrl,
      inputs: array(object({ coinPub: id, amount }), { min: 1 }),
      outputs: array(coin),
    }),
  ),
  "withdrawal-group-aborted": shared(object({ withdrawalGroupId: id })),

  // Device-local: never exported, never in the hash chain or vector clock.
  // A merged backup said which clock its device held (for the stable frontier, compaction).
  "device-knowledge-learned": local(object({ device: deviceId, clock: record(nat, deviceId) })),
  "exchange-update-attempted": local(object({ url: baseUrl })),
  "exchange-update-settled": local(
    object({
      url: baseUrl,
      ok: bool,
      // "" when the /keys answer had none: the ETag before it validates other keys.
      keysEtag: optional(str),
      // Which keys that ETag validates (keysStamp): another device's keys, merged since, are not revalidated with it.
      keysOf: optional(str),
      // /terms can fail while /keys succeeds: the ToS stays pending and this says why.
      termsError: optional(object({ code: nonEmptyStr, message: str })),
      // The wallet closed while the exchange was being asked: no outcome, and no failure to back off from.
      interrupted: optional(bool),
    }),
  ),
  // This device's backup providers (sync services): where its backups go is its own business.
  // `terms` is what the provider's /config said when it was added (absent: toggled, not re-read).
  "backup-provider-added": local(
    object({
      url: baseUrl,
      active: bool,
      terms: optional(object({ version: str, storageLimitInMegabytes: num, annualFee: amount })),
    }),
  ),
  "backup-provider-removed": local(object({ url: baseUrl })),
  // Outcomes of a backup cycle with one provider. `clock` is what the stored backup held.
  "backup-uploaded": local(object({ url: baseUrl, hash: id, clock: record(nat, deviceId) })),
  "backup-upload-failed": local(object({ url: baseUrl, code: nonEmptyStr, message: str, httpStatus: optional(nat) })),
  "backup-payment-required": local(object({ url: baseUrl, talerUri: nonEmptyStr })),
  // A recovery ("theirs") made another root key this device's: every provider account is derived from it,
  // so what the providers' records say of the old accounts (last backup, failures, payment) no longer holds.
  "wallet-root-key-replaced": local(object({ walletRootPub: id })),
} satisfies Record<string, { scope: Scope; schema: Schema<unknown> }>;

type Catalogue = typeof catalogue;
export type EventType = keyof Catalogue;
export type SharedEventType = { [K in EventType]: Catalogue[K]["scope"] extends "shared" ? K : never }[EventType];
export type LocalEventType = Exclude<EventType, SharedEventType>;
export type EventData<K extends EventType> = Infer<Catalogue[K]["schema"]>;

/** An event as a decider emits it: type and payload, before the store stamps it. */
export type Draft<K extends EventType = EventType> = K extends EventType ? { type: K; data: EventData<K> } : never;
export type SharedDraft = Draft<SharedEventType>;
export type LocalDraft = Draft<LocalEventType>;

/** What every decider returns: the events to append (possibly none) and the request's result. */
export interface Decision<T = void> {
  events: SharedDraft[];
  result: T;
}

/** A decision that appends nothing. */
export const noEvents = <T = void>(result: T): Decision<T> => ({ events: [], result });
/** A decision whose result is void. */
export const just = (...events: SharedDraft[]): Decision => ({ events, result: undefined });

export function isEventType(t: unknown): t is EventType {
  return typeof t === "string" && Object.prototype.hasOwnProperty.call(catalogue, t);
}

export function scopeOf(t: EventType): Scope {
  return catalogue[t].scope;
}

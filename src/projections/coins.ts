// Coins, withdrawal groups, and the aggregates derived from them.
//
//   ["coin", pub]                 CoinRecord       created once; spends grow
//   ["exev", url, device, seq]    string[]         coins an event created at an exchange (what a purge walks)
//   ["wg", groupId]               GroupRecord
//   ["wgx", url, groupId]         1                withdrawal groups of an exchange
//   ["bal", currency]             BalanceRecord    running totals (cache of the fold)
//   ["res", url]                  (resources.ts)   running counts (cache of the fold)
//   ["conflict", pub]             string[]         double-spent coins, spend names sorted
//   ["purged", url]               VectorClock      what the purges of an exchange observed
//   ["cfact", pub]                CoinFacts        base only: what the creating event said of a coin folded into a snapshot
//
// Aggregates are maintained by deltas: every change of a coin or group
// subtracts its old effect and adds its new one, so an aggregate always equals
// the sum of effects of the records, whatever the order they changed in.
// Amounts in records are Units ([value, fraction]) with a running total per
// coin, so a spend costs one addition, not a re-sum of every spend.
import { sortShort } from "../codec/short-sort.ts";
import { WalletError } from "../errors.ts";
import { amount, baseUrl, deviceId, just, noEvents, type CoinData, type Decision, type EventData } from "../events/catalogue.ts";
import { array, bool, literal, nat, object, oneOf, optional, str, tuple, union, type Schema } from "../events/schema.ts";
import { covers, join, type VectorClock } from "../events/clock.ts";
import type { SharedEvent } from "../events/envelope.ts";
import type { Key, Projection, RecordCodec, Records } from "../events/records.ts";
import {
  addAmounts,
  addUnits,
  cmpAmounts,
  cmpUnits,
  currencyOf,
  formatAmount,
  formatUnits,
  isZeroUnits,
  parseAmount,
  subUnits,
  unitsOf,
  zeroAmount,
  ZERO_UNITS,
  type Amount,
  type AmountString,
  type Units,
} from "../codec/amounts.ts";
import {
  clockFromJson,
  clockJsonShape,
  clockToJson,
  contribute,
  contributionsFromJson,
  contributionsToJson,
  stampLess,
  survives,
  type ClockJson,
  type Contributions,
} from "../merge/registers.ts";
import { emptyClock } from "../events/clock.ts";
import { assertNever, currentKeys, isSuspended, requireExchange } from "./exchanges.ts";
import { adjustResources, resourcesCodec } from "./resources.ts";

export interface SpendEntry {
  amount: AmountString;
  /**
   * Stamp of the event that recorded it. When two devices record one spend id,
   * the larger amount wins (the earliest stamp breaks a tie): a join, so merging
   * never gives value back to a coin, whatever the order.
   */
  l: number;
  d: string;
  s: number;
  purchaseId?: string;
}

export interface CoinRecord {
  coinPub: string;
  url: string;
  currency: string;
  value: AmountString;
  /** How the coin came to be; the group or refresh id is in its creating event. */
  kind: "withdrawal" | "refresh";
  /** The creating event (d, s), and the coin's index among the coins it created. */
  d: string;
  s: number;
  i: number;
  /**
   * Grow-only set of spends, keyed by spendKey (a spend id) or refreshKey (a
   * refresh group): separate name spaces, so a spend that happens to be named
   * like a refresh never counts as that refresh.
   */
  spends: ReadonlyMap<string, SpendEntry>;
  /** Sum of the spends' amounts (running). */
  spent: Units;
  /** Set when a purge of its exchange observed its creation (observed-remove). */
  removed: boolean;
}

/**
 * A coin's immutable facts, which its creating event holds (the coin record
 * keeps only what changes). Kept beside a snapshot for the coins whose
 * creating events it folded away: a wallet that starts from it can still
 * spend them.
 */
export interface CoinFacts {
  denomPubHash: string;
  origin: { kind: "withdrawal" | "refresh"; id: string };
  coinPriv?: string;
  blindingKey?: string;
  denomSig?: string;
}

export interface GroupRecord {
  withdrawalGroupId: string;
  url: string;
  currency: string;
  contributors: Contributions;
  /** Join of the causal pasts of purges of its exchange. */
  removed: VectorClock;
  /** Amount the withdrawal was instructed for, if known: the max any device recorded. */
  instructed?: AmountString;
  withdrawn: Units;
  coins: number;
  aborted: boolean;
}

/** A currency's running totals: what live coins have left, and what pending withdrawals still expect. */
export interface BalanceTotals {
  currency: string;
  available: Units;
  pending: Units;
}

export interface BalanceRecord {
  currency: string;
  available: AmountString;
  pendingIncoming: AmountString;
}

const coinKey = (pub: string): Key => ["coin", pub];
const groupKey = (id: string): Key => ["wg", id];
const balKey = (cur: string): Key => ["bal", cur];
const conflictKey = (pub: string): Key => ["conflict", pub];
/** Join of the causal pasts of the purges of an exchange. */
const purgedKey = (url: string): Key => ["purged", url];

/**
 * Keys of a coin's spends: "s:" + spend id; "r:" + the refresh event's dot + ":" + refresh group id.
 * One spend id recorded on two devices is one spend (the larger amount counts). Two refresh events
 * under one group id are two melts: a coin is created once, so their outputs differ, and each must
 * count; the dot keeps them apart. Device ids hold no ":", so the key parses from the front.
 */
export const spendKey = (spendId: string) => `s:${spendId}`;
export const refreshKey = (refreshGroupId: string, device: string, seq: number) => `r:${device}:${seq}:${refreshGroupId}`;

/**
 * A stored spend key in today's layout. Records written before refresh keys held their event's dot
 * (snapshots in older backups, a base compacted before) keyed a refresh "r:" + group id; the entry's
 * own dot is that event, so the key is rebuilt from it.
 */
function currentSpendKey(key: string, d: string, s: number): string {
  if (!key.startsWith("r:") || key.startsWith(`r:${d}:${s}:`)) return key;
  return refreshKey(key.slice(2), d, s);
}

/** The group id and event dot of a refresh key. */
function parseRefreshKey(key: string): { id: string; device: string; seq: number } {
  const a = key.indexOf(":", 2);
  const b = key.indexOf(":", a + 1);
  return { device: key.slice(2, a), seq: Number(key.slice(a + 1, b)), id: key.slice(b + 1) };
}

/** The coin's spends by refreshes of one group, with their dots. */
function refreshesOf(c: CoinRecord, refreshGroupId: string): { device: string; seq: number; entry: SpendEntry }[] {
  const out: { device: string; seq: number; entry: SpendEntry }[] = [];
  for (const [k, entry] of c.spends) {
    if (!k.startsWith("r:")) continue;
    const r = parseRefreshKey(k);
    if (r.id === refreshGroupId) out.push({ device: r.device, seq: r.seq, entry });
  }
  return out;
}

/**
 * The names of a coin's spends, sorted (getCoin, listConflicts): a spend id, or "refresh:<group>"
 * for a refresh, with "@device:seq" where one group melted the coin more than once.
 */
export function spendNames(c: CoinRecord): string[] {
  const refreshes = [...c.spends.keys()].filter((k) => k.startsWith("r:")).map(parseRefreshKey);
  const perGroup = new Map<string, number>();
  for (const r of refreshes) perGroup.set(r.id, (perGroup.get(r.id) ?? 0) + 1);
  const names = [...c.spends.keys()].filter((k) => k.startsWith("s:")).map((k) => k.slice(2));
  for (const r of refreshes) names.push(perGroup.get(r.id)! > 1 ? `refresh:${r.id}@${r.device}:${r.seq}` : `refresh:${r.id}`);
  return names.sort();
}

/** The dot of the spend that counts for `spendId` on the coin (one spend id recorded twice counts once). */
export function countedSpend(c: CoinRecord, spendId: string): { d: string; s: number } | undefined {
  const e = c.spends.get(spendKey(spendId));
  return e && { d: e.d, s: e.s };
}

// ---------------------------------------------------------------- stored forms

type SpendJson = [string, AmountString, number, string, number] | [string, AmountString, number, string, number, string];
// The spent total's carry, when its spends pass 2^52 (concurrent spends of a large coin), comes last.
type CoinJson =
  | [string, string, AmountString, "w" | "r", string, number, number, 0 | 1, number, number, SpendJson[]]
  | [string, string, AmountString, "w" | "r", string, number, number, 0 | 1, number, number, SpendJson[], number];

// Read-only by type: a coin gets a map of its own at its first spend (addSpend).
const NO_SPENDS: ReadonlyMap<string, SpendEntry> = new Map();

const spendLess = (a: SpendJson, b: SpendJson) => a[0] < b[0];

// The stored forms' shapes (checked on records a snapshot brings; see RecordCodec.shape).
// A total past 2^52 carries a third part (amounts.ts).
const units = union(tuple(nat, nat), tuple(nat, nat, nat));
const strings = array(str);
const spendShape = union(tuple(str, amount, nat, deviceId, nat), tuple(str, amount, nat, deviceId, nat, str));

const coinCodec: RecordCodec<CoinRecord> = {
  shape: union(
    tuple(baseUrl, str, amount, oneOf("w", "r"), deviceId, nat, nat, union(literal(0), literal(1)), nat, nat, array(spendShape)),
    tuple(baseUrl, str, amount, oneOf("w", "r"), deviceId, nat, nat, union(literal(0), literal(1)), nat, nat, array(spendShape), nat),
  ),
  encode: (c): CoinJson => [
    c.url,
    c.currency,
    c.value,
    c.kind === "withdrawal" ? "w" : "r",
    c.d,
    c.s,
    c.i,
    c.removed ? 1 : 0,
    c.spent[0],
    c.spent[1],
    sortShort(
      [...c.spends].map(([k, x]): SpendJson => (x.purchaseId === undefined ? [k, x.amount, x.l, x.d, x.s] : [k, x.amount, x.l, x.d, x.s, x.purchaseId])),
      spendLess,
    ),
    ...(c.spent.length === 3 ? [c.spent[2]] : []),
  ] as CoinJson,
  decode: (json, key) => {
    const [url, currency, value, kind, d, s, i, removed, sv, sf, spends, carry] = json as CoinJson;
    return {
      coinPub: key[1] as string,
      url,
      currency,
      value,
      kind: kind === "w" ? "withdrawal" : "refresh",
      d,
      s,
      i,
      removed: removed === 1,
      spent: carry === undefined ? [sv, sf] : [sv, sf, carry],
      spends: spends.length === 0 ? NO_SPENDS : new Map(
        spends.map(([k, amount, l, sd, ss, purchaseId]) => [currentSpendKey(k, sd, ss), purchaseId === undefined ? { amount, l, d: sd, s: ss } : { amount, l, d: sd, s: ss, purchaseId }]),
      ),
    };
  },
};

type GroupJson = { url: string; currency: string; contributors: ClockJson; removed: ClockJson; instructed?: AmountString; withdrawn: Units; coins: number; aborted: boolean };

const groupCodec: RecordCodec<GroupRecord> = {
  shape: object({
    url: baseUrl,
    currency: str,
    contributors: clockJsonShape,
    removed: clockJsonShape,
    instructed: optional(amount),
    withdrawn: units,
    coins: nat,
    aborted: bool,
  }),
  encode: (g): GroupJson => {
    const j: GroupJson = {
      url: g.url,
      currency: g.currency,
      contributors: contributionsToJson(g.contributors),
      removed: clockToJson(g.removed),
      withdrawn: g.withdrawn,
      coins: g.coins,
      aborted: g.aborted,
    };
    if (g.instructed !== undefined) j.instructed = g.instructed;
    return j;
  },
  decode: (json, key) => {
    const j = json as GroupJson;
    const g: GroupRecord = {
      withdrawalGroupId: key[1] as string,
      url: j.url,
      currency: j.currency,
      contributors: contributionsFromJson(j.contributors),
      removed: clockFromJson(j.removed),
      withdrawn: j.withdrawn,
      coins: j.coins,
      aborted: j.aborted,
    };
    if (j.instructed !== undefined) g.instructed = j.instructed;
    return g;
  },
};

const balanceCodec: RecordCodec<BalanceTotals> = {
  shape: tuple(units, units),
  encode: (b) => [b.available, b.pending],
  decode: (json, key) => {
    const [available, pending] = json as [Units, Units];
    return { currency: key[1] as string, available, pending };
  },
};

const clockCodec: RecordCodec<VectorClock> = { shape: clockJsonShape, encode: clockToJson, decode: (j) => clockFromJson(j as ClockJson) };
const factsCodec: RecordCodec<CoinFacts> = {
  shape: object({
    denomPubHash: str,
    origin: object({ kind: oneOf("withdrawal", "refresh"), id: str }),
    coinPriv: optional(str),
    blindingKey: optional(str),
    denomSig: optional(str),
  }),
  encode: (v) => v,
  decode: (v) => v as CoinFacts,
  baseOnly: true,
};

function factsOf(c: CoinData, origin: CoinFacts["origin"]): CoinFacts {
  const f: CoinFacts = { denomPubHash: c.denomPubHash, origin };
  if (c.coinPriv !== undefined) f.coinPriv = c.coinPriv;
  if (c.blindingKey !== undefined) f.blindingKey = c.blindingKey;
  if (c.denomSig !== undefined) f.denomSig = c.denomSig;
  return f;
}
/** A record stored as it is, of the given shape. */
const plainOf = (shape: Schema<unknown>): RecordCodec<unknown> => ({ shape, encode: (v) => v, decode: (v) => v });

// ---------------------------------------------------------------- effects

type CoinEffect = { available: Units; resource: number; conflict: string[] | undefined };

/** What one coin contributes to the aggregates. An overspent coin counts zero and is a conflict. */
export function coinEffect(c: CoinRecord | undefined): CoinEffect | undefined {
  if (!c || c.removed) return undefined;
  const value = unitsOf(c.value);
  if (cmpUnits(c.spent, value) > 0) return { available: ZERO_UNITS, resource: 0, conflict: spendNames(c) };
  const available = subUnits(value, c.spent);
  return { available, resource: isZeroUnits(available) ? 0 : 1, conflict: undefined };
}

type GroupEffect = { pending: Units; resource: number };

function groupEffect(g: GroupRecord | undefined): GroupEffect | undefined {
  if (!g || !survives(g.contributors, g.removed)) return undefined;
  if (g.aborted || g.instructed === undefined) return { pending: ZERO_UNITS, resource: 0 };
  const instructed = unitsOf(g.instructed);
  if (cmpUnits(g.withdrawn, instructed) >= 0) return { pending: ZERO_UNITS, resource: 0 };
  return { pending: subUnits(instructed, g.withdrawn), resource: 1 };
}

function adjustBalance(records: Records, currency: string, dAvail: [Units, Units] | undefined, dPending: [Units, Units] | undefined) {
  const key = balKey(currency);
  const b = records.get<BalanceTotals>(key) ?? { currency, available: ZERO_UNITS, pending: ZERO_UNITS };
  if (dAvail) b.available = subUnits(addUnits(b.available, dAvail[1]), dAvail[0]);
  if (dPending) b.pending = subUnits(addUnits(b.pending, dPending[1]), dPending[0]);
  records.put(key, b);
}

/** Moves the aggregates from a coin's effect before a change to its effect after. */
function moveCoinEffect(records: Records, c: CoinRecord, b: CoinEffect | undefined) {
  const a = coinEffect(c);
  adjustBalance(records, c.currency, [b?.available ?? ZERO_UNITS, a?.available ?? ZERO_UNITS], undefined);
  adjustResources(records, c.url, (a?.resource ?? 0) - (b?.resource ?? 0), 0);
  if (a?.conflict) records.put(conflictKey(c.coinPub), a.conflict);
  else if (b?.conflict) records.remove(conflictKey(c.coinPub));
  records.put(coinKey(c.coinPub), c);
}

function moveGroupEffect(records: Records, g: GroupRecord, b: GroupEffect | undefined) {
  const a = groupEffect(g);
  adjustBalance(records, g.currency, undefined, [b?.pending ?? ZERO_UNITS, a?.pending ?? ZERO_UNITS]);
  adjustResources(records, g.url, 0, (a?.resource ?? 0) - (b?.resource ?? 0));
  records.put(groupKey(g.withdrawalGroupId), g);
}

// ---------------------------------------------------------------- evolve

function integrity(e: SharedEvent, message: string): never {
  throw new WalletError("event-inconsistent", `event ${e.device}:${e.seq} (${e.type}): ${message}`, {
    device: e.device,
    seq: e.seq,
  });
}

function createCoins(records: Records, e: SharedEvent, url: string, coins: CoinData[], kind: CoinRecord["kind"]) {
  if (coins.length === 0) return;
  const pubs: string[] = [];
  coins.forEach((c, i) => {
    // Coins are created exactly once; a second creation (even concurrent) is refused, in any order.
    if (records.get(coinKey(c.coinPub)) || pubs.includes(c.coinPub)) integrity(e, `coin ${c.coinPub} already exists`);
    pubs.push(c.coinPub);
    const rec: CoinRecord = {
      coinPub: c.coinPub,
      url,
      currency: currencyOf(c.value),
      value: c.value,
      kind,
      d: e.device,
      s: e.seq,
      i,
      spends: NO_SPENDS,
      spent: ZERO_UNITS,
      removed: false,
    };
    moveCoinEffect(records, rec, undefined);
  });
  records.put(["exev", url, e.device, e.seq], pubs);
}

function addSpend(records: Records, e: SharedEvent, coinPub: string, key: string, amount: AmountString, purchaseId?: string) {
  const c = records.get<CoinRecord>(coinKey(coinPub));
  if (!c) integrity(e, `spends unknown coin ${coinPub}`);
  if (currencyOf(amount) !== c.currency) integrity(e, `spends ${amount} from a ${c.currency} coin`);
  const entry: SpendEntry = { amount, l: e.lamport, d: e.device, s: e.seq };
  if (purchaseId !== undefined) entry.purchaseId = purchaseId;
  const existing = c.spends.get(key);
  const units = unitsOf(amount);
  if (existing) {
    const byAmount = cmpUnits(units, unitsOf(existing.amount));
    if (byAmount < 0 || (byAmount === 0 && !stampLess({ l: entry.l, d: entry.d, s: entry.s }, existing))) return;
  }
  const before = coinEffect(c);
  c.spent = addUnits(existing ? subUnits(c.spent, unitsOf(existing.amount)) : c.spent, units);
  // Most coins are never spent: they share one empty map until their first spend.
  (c.spends === NO_SPENDS ? (c.spends = new Map()) : (c.spends as Map<string, SpendEntry>)).set(key, entry);
  moveCoinEffect(records, c, before);
}

/**
 * What the refresh decider guarantees, held against a refresh from another device too: distinct
 * inputs, all from the event's exchange, one currency throughout, and no more value out than in.
 * Else a peer's event could mint value, or leave amounts the history cannot add up.
 */
function checkRefresh(records: Records, e: SharedEvent & { type: "coins-refreshed" }) {
  const { inputs, outputs, url } = e.data;
  if (inputs.length === 0) integrity(e, "a refresh consumes at least one coin");
  const currency = currencyOf(inputs[0].amount);
  const seen = new Set<string>();
  let consumed = ZERO_UNITS;
  let produced = ZERO_UNITS;
  for (const i of inputs) {
    if (seen.has(i.coinPub)) integrity(e, `coin ${i.coinPub} is refreshed twice`);
    seen.add(i.coinPub);
    const c = records.get<CoinRecord>(coinKey(i.coinPub));
    if (c && c.url !== url) integrity(e, `coin ${i.coinPub} is from ${c.url}, not ${url}`);
    if (currencyOf(i.amount) !== currency) integrity(e, "the refreshed amounts are in more than one currency");
    consumed = addUnits(consumed, unitsOf(i.amount));
  }
  for (const o of outputs) {
    if (currencyOf(o.value) !== currency) integrity(e, `output ${o.coinPub} is in another currency than the refreshed coins`);
    produced = addUnits(produced, unitsOf(o.value));
  }
  if (cmpUnits(produced, consumed) > 0) integrity(e, `it creates ${formatUnits(currency, produced)} from ${formatUnits(currency, consumed)}`);
}

function withdrawn(records: Records, e: SharedEvent & { type: "coins-withdrawn" }) {
  const { url, withdrawalGroupId: id } = e.data;
  const before = records.get<GroupRecord>(groupKey(id));
  const currency = currencyOf(e.data.coins.length > 0 ? e.data.coins[0].value : e.data.amount!);
  if (before && before.url !== url) integrity(e, `withdrawal group ${id} belongs to ${before.url}`);
  if (before && before.currency !== currency) integrity(e, `withdrawal group ${id} is in ${before.currency}`);
  for (const c of e.data.coins) if (currencyOf(c.value) !== currency) integrity(e, "coins of one withdrawal must share a currency");
  if (e.data.amount !== undefined && currencyOf(e.data.amount) !== currency) integrity(e, "the instructed amount is in another currency than the coins");
  createCoins(records, e, url, e.data.coins, "withdrawal");
  const bEffect = groupEffect(before);
  const g: GroupRecord = before ?? {
    withdrawalGroupId: id,
    url,
    currency,
    contributors: new Map(),
    // A new group starts from every purge of its exchange seen so far, as if it had
    // existed when they arrived: its record is then the same in any arrival order.
    // Safe, since a purge that observed this event would have arrived after it.
    removed: join(emptyClock(), records.get<VectorClock>(purgedKey(url)) ?? emptyClock()),
    withdrawn: ZERO_UNITS,
    coins: 0,
    aborted: false,
  };
  if (!before) records.put(["wgx", url, id], 1);
  for (const c of e.data.coins) g.withdrawn = addUnits(g.withdrawn, unitsOf(c.value));
  g.coins += e.data.coins.length;
  if (e.data.amount !== undefined && (g.instructed === undefined || cmpUnits(unitsOf(e.data.amount), unitsOf(g.instructed)) > 0)) {
    g.instructed = e.data.amount;
  }
  contribute(g.contributors, e);
  moveGroupEffect(records, g, bEffect);
}

function purged(records: Records, e: SharedEvent & { type: "exchange-deleted" }) {
  const url = e.data.url;
  records.put(purgedKey(url), join(records.get<VectorClock>(purgedKey(url)) ?? emptyClock(), e.deps));
  // Keys are collected first: the loop writes into the range it reads.
  for (const { key, value: pubs } of [...records.entries<string[]>(["exev", url])]) {
    if (!covers(e.deps, key[2] as string, key[3] as number)) continue;
    for (const pub of pubs) {
      const c = records.get<CoinRecord>(coinKey(pub))!;
      if (c.removed) continue;
      const before = coinEffect(c);
      c.removed = true;
      moveCoinEffect(records, c, before);
    }
  }
  for (const { key } of [...records.entries(["wgx", url])]) {
    const g = records.get<GroupRecord>(groupKey(key[2] as string))!;
    const removed = join(g.removed, e.deps);
    if (removed === g.removed) continue;
    const before = groupEffect(g);
    g.removed = removed;
    moveGroupEffect(records, g, before);
  }
}

export const coinsProjection: Projection = {
  name: "coins",
  tables: {
    coin: coinCodec,
    exev: plainOf(strings),
    wg: groupCodec,
    wgx: plainOf(literal(1)),
    bal: balanceCodec,
    res: resourcesCodec,
    conflict: plainOf(strings),
    purged: clockCodec,
    cfact: factsCodec,
  },
  evolveBase(records, e) {
    if (e.type === "coins-withdrawn") {
      for (const c of e.data.coins) records.put(["cfact", c.coinPub], factsOf(c, { kind: "withdrawal", id: e.data.withdrawalGroupId }));
    } else if (e.type === "coins-refreshed") {
      for (const c of e.data.outputs) records.put(["cfact", c.coinPub], factsOf(c, { kind: "refresh", id: e.data.refreshGroupId }));
    }
  },
  evolveShared(records, e) {
    switch (e.type) {
      case "coins-withdrawn":
        withdrawn(records, e);
        return;
      case "coin-spent":
        addSpend(records, e, e.data.coinPub, spendKey(e.data.spendId), e.data.amount, e.data.purchaseId);
        return;
      case "coins-refreshed":
        checkRefresh(records, e);
        for (const input of e.data.inputs) addSpend(records, e, input.coinPub, refreshKey(e.data.refreshGroupId, e.device, e.seq), input.amount);
        createCoins(records, e, e.data.url, e.data.outputs, "refresh");
        return;
      case "withdrawal-group-aborted": {
        const g = records.get<GroupRecord>(groupKey(e.data.withdrawalGroupId));
        if (!g) integrity(e, `aborts unknown withdrawal group ${e.data.withdrawalGroupId}`);
        if (g.aborted) return;
        const before = groupEffect(g);
        g.aborted = true;
        moveGroupEffect(records, g, before);
        return;
      }
      case "exchange-deleted":
        // A plain delete removes the entry only (it was refused while value was left);
        // a purge also removes coins and groups, and only those its author had seen.
        if (e.data.purge) purged(records, e);
        return;
      case "exchange-added":
      case "exchange-keys-fetched":
      case "exchange-update-failed":
      case "exchange-tos-offered":
      case "exchange-tos-accepted":
      case "exchange-tos-forgotten":
      case "exchange-suspended":
      case "exchange-unsuspended":
        return;
      default:
        assertNever(e);
    }
  },
};

// ---------------------------------------------------------------- queries

export function getCoin(records: Records, coinPub: string): CoinRecord | undefined {
  return records.get<CoinRecord>(coinKey(coinPub));
}

export function getGroup(records: Records, id: string): GroupRecord | undefined {
  return records.get<GroupRecord>(groupKey(id));
}

export function listBalances(records: Records): BalanceRecord[] {
  return [...records.entries<BalanceTotals>(["bal"])].map(({ value: b }) => balanceView(b));
}

export const balanceView = (b: BalanceTotals): BalanceRecord => ({
  currency: b.currency,
  available: formatUnits(b.currency, b.available),
  pendingIncoming: formatUnits(b.currency, b.pending),
});

export function listConflictRecords(records: Records): { kind: "double-spend"; coinPub: string; spendIds: string[] }[] {
  return [...records.entries<string[]>(["conflict"])].map(({ key, value }) => ({
    kind: "double-spend" as const,
    coinPub: key[1] as string,
    spendIds: value,
  }));
}

/**
 * A coin's immutable facts: from its creating event when this wallet holds it,
 * else from the base it was folded into (`base` reads the store's base records).
 */
export function coinFacts(c: CoinRecord, creatingEvent: SharedEvent | undefined, base: Records): CoinFacts | undefined {
  const e = creatingEvent;
  if (e?.type === "coins-withdrawn" && e.data.coins[c.i]?.coinPub === c.coinPub) return factsOf(e.data.coins[c.i], { kind: "withdrawal", id: e.data.withdrawalGroupId });
  if (e?.type === "coins-refreshed" && e.data.outputs[c.i]?.coinPub === c.coinPub) return factsOf(e.data.outputs[c.i], { kind: "refresh", id: e.data.refreshGroupId });
  return base.get<CoinFacts>(["cfact", c.coinPub]);
}

/** What is left of a live coin, or undefined when it is removed or unknown. */
export function coinRemaining(c: CoinRecord): Amount | undefined {
  const eff = coinEffect(c);
  return eff && { currency: c.currency, value: eff.available[0], fraction: eff.available[1] };
}

/** The coins a coin-creating event made at an exchange, by the event's dot. */
export function* coinCreatingEvents(records: Records, url: string): Iterable<{ device: string; seq: number; coinPubs: string[] }> {
  for (const { key, value } of records.entries<string[]>(["exev", url])) yield { device: key[2] as string, seq: key[3] as number, coinPubs: value };
}

// ---------------------------------------------------------------- deciders
//
// Each is decide(records, request) → { events, result }: pure, reading only
// the records. Requests arrive validated (types, normalized positive
// amounts, ids); the deciders check them against the state.

function requireUsableExchange(records: Records, url: string) {
  const ex = requireExchange(records, url);
  if (isSuspended(ex)) throw new WalletError("exchange-suspended", `exchange ${url} is suspended`, { url });
  return ex;
}

/** Checks new coins against the wallet and each other; returns their common currency. */
function checkNewCoins(records: Records, coins: CoinData[], currency: string | undefined): string | undefined {
  const seen = new Set<string>();
  let cur = currency;
  for (const c of coins) {
    if (seen.has(c.coinPub) || getCoin(records, c.coinPub)) {
      throw new WalletError("coin-duplicate", `coin ${c.coinPub} is already recorded`, { coinPub: c.coinPub });
    }
    seen.add(c.coinPub);
    const vcur = parseAmount(c.value).currency;
    if (cur !== undefined && vcur !== cur) {
      throw new WalletError("currency-mismatch", `coin ${c.coinPub} is in ${vcur}, expected ${cur}`, { coinPub: c.coinPub });
    }
    cur = vcur;
  }
  return cur;
}

export interface RecordWithdrawalRequest {
  exchangeBaseUrl: string;
  withdrawalGroupId?: string;
  /** Amount the withdrawal was instructed for; what is not yet withdrawn shows as pending. */
  amount?: AmountString;
  coins: { coinPub: string; denomPubHash: string; value: AmountString; coinPriv?: string; blindingKey?: string; denomSig?: string }[];
}

export function decideRecordWithdrawal(
  records: Records,
  req: { url: string; withdrawalGroupId: string; amount?: AmountString; coins: CoinData[] },
): Decision<{ withdrawalGroupId: string }> {
  const { url, withdrawalGroupId: id } = req;
  const ex = requireUsableExchange(records, url);
  const group = getGroup(records, id);
  if (group && group.url !== url) {
    throw new WalletError("withdrawal-group-mismatch", `withdrawal group ${id} belongs to ${group.url}`, { withdrawalGroupId: id });
  }
  if (group?.aborted) throw new WalletError("withdrawal-group-aborted", `withdrawal group ${id} was aborted`, { withdrawalGroupId: id });
  // Its record still sums what the purge removed: a contribution now would bring the purged instruction back.
  if (group && !survives(group.contributors, group.removed)) {
    throw new WalletError("withdrawal-group-purged", `withdrawal group ${id} was removed by a purge of ${group.url}; record the withdrawal under a new group id`, {
      withdrawalGroupId: id,
    });
  }
  let currency = currentKeys(ex)?.currency ?? group?.currency;
  // A group recorded before /keys was known keeps its currency, whatever /keys says since.
  if (group && currency !== group.currency) {
    throw new WalletError("currency-mismatch", `withdrawal group ${id} is in ${group.currency}, the exchange now uses ${currency}`, { withdrawalGroupId: id });
  }
  if (req.amount !== undefined) {
    const acur = parseAmount(req.amount).currency;
    if (currency !== undefined && acur !== currency) throw new WalletError("currency-mismatch", `amount is in ${acur}, exchange uses ${currency}`);
    currency = acur;
  }
  checkNewCoins(records, req.coins, currency);
  if (req.coins.length === 0 && req.amount === undefined) {
    throw new WalletError("request-invalid", "a withdrawal needs coins, or an amount when it is still pending");
  }
  const data: EventData<"coins-withdrawn"> = { url, withdrawalGroupId: id, coins: req.coins };
  if (req.amount !== undefined) data.amount = req.amount;
  return { events: [{ type: "coins-withdrawn", data }], result: { withdrawalGroupId: id } };
}

function requireLiveCoin(records: Records, coinPub: string): CoinRecord {
  const coin = getCoin(records, coinPub);
  if (!coin || coin.removed) throw new WalletError("coin-unknown", `no coin ${coinPub} in this wallet`, { coinPub });
  return coin;
}

/** An amount (validated positive) in the coin's currency, for `what` ("spend", "refresh"). */
function inCoinCurrency(coin: CoinRecord, amount: AmountString, what: string): Amount {
  const a = parseAmount(amount);
  if (a.currency !== coin.currency) {
    throw new WalletError("currency-mismatch", `${what} of ${amount} from a ${coin.currency} coin`, { coinPub: coin.coinPub });
  }
  return a;
}

function requireLeft(coin: CoinRecord, a: Amount, what: string): void {
  const left = coinRemaining(coin) ?? zeroAmount(coin.currency);
  if (cmpAmounts(a, left) > 0) {
    throw new WalletError("coin-overspent", `coin ${coin.coinPub} has ${formatAmount(left)} left, cannot ${what} ${formatAmount(a)}`, {
      coinPub: coin.coinPub,
      left: formatAmount(left),
    });
  }
}

export interface RecordSpendRequest {
  coinPub: string;
  amount: AmountString;
  spendId?: string;
  purchaseId?: string;
}

/** Records a spend; the same spend recorded again (same id and amount) is a no-op with the same id. */
export function decideRecordSpend(
  records: Records,
  req: { coinPub: string; amount: AmountString; spendId: string; purchaseId?: string },
): Decision<{ spendId: string }> {
  const coin = requireLiveCoin(records, req.coinPub);
  const { spendId } = req;
  const existing = coin.spends.get(spendKey(spendId));
  if (existing) {
    // A retry of a recorded spend is a no-op, even once the exchange is suspended.
    if (existing.amount === req.amount) return noEvents({ spendId });
    throw new WalletError("spend-duplicate", `spend ${spendId} on coin ${coin.coinPub} was recorded with ${existing.amount}`, { spendId });
  }
  requireUsableExchange(records, coin.url);
  const a = inCoinCurrency(coin, req.amount, "spend");
  requireLeft(coin, a, "spend");
  const data: EventData<"coin-spent"> = { spendId, coinPub: coin.coinPub, amount: req.amount };
  if (req.purchaseId !== undefined) data.purchaseId = req.purchaseId;
  return { events: [{ type: "coin-spent", data }], result: { spendId } };
}

export interface RecordRefreshRequest {
  refreshGroupId?: string;
  inputs: { coinPub: string; amount: AmountString }[];
  outputs: RecordWithdrawalRequest["coins"];
}

/** Reads one event of the log by its dot; undefined when it is not held (folded into a snapshot). */
export type EventAt = (device: string, seq: number) => SharedEvent | undefined;

/** `eventAt` lets a retry be told from a different refresh under the same id (fewer inputs or outputs). */
export function decideRecordRefresh(
  records: Records,
  req: { refreshGroupId: string; inputs: { coinPub: string; amount: AmountString }[]; outputs: CoinData[] },
  eventAt?: EventAt,
): Decision<{ refreshGroupId: string }> {
  const { refreshGroupId } = req;
  // A coin named twice is refused as such, before anything is looked up: it is no retry of anything.
  const seen = new Set<string>();
  for (const { coinPub } of req.inputs) {
    if (seen.has(coinPub)) throw new WalletError("request-invalid", `coin ${coinPub} is refreshed twice`);
    seen.add(coinPub);
  }
  if (isRecordedRefresh(records, req, eventAt)) return noEvents({ refreshGroupId });
  let url: string | undefined;
  let currency: string | undefined;
  let consumed: Amount | undefined;
  for (const input of req.inputs) {
    const coin = requireLiveCoin(records, input.coinPub);
    if (url !== undefined && coin.url !== url) throw new WalletError("request-invalid", "all refreshed coins must come from one exchange");
    url = coin.url;
    currency = coin.currency;
    if (refreshesOf(coin, refreshGroupId).length > 0) throw new WalletError("spend-duplicate", `refresh ${refreshGroupId} already consumed ${coin.coinPub}`);
    const a = inCoinCurrency(coin, input.amount, "refresh");
    requireLeft(coin, a, "refresh");
    consumed = consumed ? addAmounts(consumed, a) : a;
  }
  requireUsableExchange(records, url!);
  checkNewCoins(records, req.outputs, currency);
  let produced = zeroAmount(currency!);
  for (const c of req.outputs) produced = addAmounts(produced, parseAmount(c.value));
  if (cmpAmounts(produced, consumed!) > 0) {
    throw new WalletError("refresh-unbalanced", `refresh creates ${formatAmount(produced)} from ${formatAmount(consumed!)}`);
  }
  return {
    events: [{ type: "coins-refreshed", data: { refreshGroupId, url: url!, inputs: req.inputs, outputs: req.outputs } }],
    result: { refreshGroupId },
  };
}

/**
 * True when exactly this refresh (same inputs and amounts, same outputs) is already recorded: a retry.
 * The records show only what a request names; the recording event, where it is held, shows what it
 * left out (an input or an output fewer), which makes the request a different refresh. Where the
 * event was folded into a snapshot, the records alone decide: everything the request names is then
 * recorded, so taking it as a retry claims nothing the wallet does not hold.
 */
function isRecordedRefresh(
  records: Records,
  req: { refreshGroupId: string; inputs: { coinPub: string; amount: AmountString }[]; outputs: CoinData[] },
  eventAt: EventAt | undefined,
): boolean {
  // The outputs are the coins the refresh event that consumed the inputs created: one event for all.
  // The group may have melted the coin more than once (on several devices): any one that is exactly this refresh.
  const first = getCoin(records, req.inputs[0].coinPub);
  if (!first) return false;
  return refreshesOf(first, req.refreshGroupId).some(({ device, seq }) => {
    const key = refreshKey(req.refreshGroupId, device, seq);
    if (!req.inputs.every((i) => getCoin(records, i.coinPub)?.spends.get(key)?.amount === i.amount)) return false;
    const e = eventAt?.(device, seq);
    if (e?.type === "coins-refreshed" && (e.data.inputs.length !== req.inputs.length || e.data.outputs.length !== req.outputs.length)) return false;
    return req.outputs.every((o, n) => {
      const c = getCoin(records, o.coinPub);
      return c !== undefined && c.kind === "refresh" && c.d === device && c.s === seq && c.i === n && c.value === o.value;
    });
  });
}

export function decideAbortWithdrawal(records: Records, req: { withdrawalGroupId: string }): Decision {
  const { withdrawalGroupId } = req;
  const g = getGroup(records, withdrawalGroupId);
  if (!g || !survives(g.contributors, g.removed)) {
    throw new WalletError("withdrawal-group-unknown", `no withdrawal group ${withdrawalGroupId}`, { withdrawalGroupId });
  }
  if (g.aborted) return noEvents(undefined);
  return just({ type: "withdrawal-group-aborted", data: { withdrawalGroupId } });
}

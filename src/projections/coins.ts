// Coins, withdrawal groups, and the aggregates derived from them.
//
//   ["coin", pub]            CoinRecord            created once, spends grow
//   ["coinx", url, pub]      1                     coins of an exchange
//   ["wg", groupId]          GroupRecord
//   ["wgx", url, groupId]    1                     withdrawal groups of an exchange
//   ["bal", currency]        BalanceRecord         running totals (cache of the fold)
//   ["res", url]             ResourceRecord        running counts (cache of the fold)
//   ["conflict", pub]        string[]              double-spent coins, spend ids sorted
//   ["purged", url]          VectorClock           what the purges of an exchange observed
//
// Aggregates are maintained by deltas: every change of a coin or group
// subtracts its old effect and adds its new one, so an aggregate always equals
// the sum of effects of the records, whatever the order they changed in.
import { WalletError } from "../errors.ts";
import { just, noEvents, type CoinData, type Decision, type EventData } from "../events/catalogue.ts";
import type { SharedEvent } from "../events/envelope.ts";
import type { Projection, Records } from "../events/records.ts";
import {
  addAmounts,
  cmpAmounts,
  formatAmount,
  isZero,
  parseAmount,
  subAmounts,
  zeroAmount,
  type Amount,
  type AmountString,
} from "../codec/amounts.ts";
import { contribute, stampLess, survives, type Contributions } from "../merge/registers.ts";
import { covers, join, type VectorClock } from "../events/clock.ts";
import { assertNever, currentKeys, isSuspended, requireExchange } from "./exchanges.ts";
import { adjustResources } from "./resources.ts";

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
  denomPubHash: string;
  origin: { kind: "withdrawal" | "refresh"; id: string };
  /** Dot of the creating event. */
  d: string;
  s: number;
  secrets?: { coinPriv?: string; blindingKey?: string; denomSig?: string };
  /**
   * Grow-only set of spends, keyed by spendKey (a spend id) or refreshKey (a
   * refresh group): separate name spaces, so a spend that happens to be named
   * like a refresh never counts as that refresh.
   */
  spends: Record<string, SpendEntry>;
  /** Set when a purge of its exchange observed its creation (observed-remove). */
  removed: boolean;
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
  withdrawn: AmountString;
  coins: number;
  aborted: boolean;
}

export interface BalanceRecord {
  currency: string;
  available: AmountString;
  pendingIncoming: AmountString;
}

const coinKey = (pub: string) => ["coin", pub];
const groupKey = (id: string) => ["wg", id];
const balKey = (cur: string) => ["bal", cur];
const conflictKey = (pub: string) => ["conflict", pub];
/** Join of the causal pasts of the purges of an exchange. */
const purgedKey = (url: string) => ["purged", url];

// ---------------------------------------------------------------- effects

type CoinEffect = { available: Amount; resource: number; conflict: string[] | undefined };

export function spentOf(c: CoinRecord): Amount {
  let total = zeroAmount(c.currency);
  for (const id in c.spends) total = addAmounts(total, parseAmount(c.spends[id].amount));
  return total;
}

/** What one coin contributes to the aggregates. An overspent coin counts zero and is a conflict. */
export function coinEffect(c: CoinRecord | undefined): CoinEffect | undefined {
  if (!c || c.removed) return undefined;
  const value = parseAmount(c.value);
  const spent = spentOf(c);
  if (cmpAmounts(spent, value) > 0) {
    return { available: zeroAmount(c.currency), resource: 0, conflict: spendNames(c) };
  }
  const available = subAmounts(value, spent);
  return { available, resource: isZero(available) ? 0 : 1, conflict: undefined };
}

type GroupEffect = { pending: Amount; resource: number };

function groupEffect(g: GroupRecord | undefined): GroupEffect | undefined {
  if (!g || !survives(g.contributors, g.removed)) return undefined;
  if (g.aborted || g.instructed === undefined) return { pending: zeroAmount(g.currency), resource: 0 };
  const instructed = parseAmount(g.instructed);
  const withdrawn = parseAmount(g.withdrawn);
  if (cmpAmounts(withdrawn, instructed) >= 0) return { pending: zeroAmount(g.currency), resource: 0 };
  return { pending: subAmounts(instructed, withdrawn), resource: 1 };
}

function adjustBalance(records: Records, currency: string, dAvail: [Amount, Amount] | undefined, dPending: [Amount, Amount] | undefined) {
  const key = balKey(currency);
  const b = records.get<BalanceRecord>(key) ?? { currency, available: `${currency}:0`, pendingIncoming: `${currency}:0` };
  let available = parseAmount(b.available);
  let pending = parseAmount(b.pendingIncoming);
  if (dAvail) available = subAmounts(addAmounts(available, dAvail[1]), dAvail[0]);
  if (dPending) pending = subAmounts(addAmounts(pending, dPending[1]), dPending[0]);
  records.put(key, { currency, available: formatAmount(available), pendingIncoming: formatAmount(pending) });
}

/** Writes a coin and moves the aggregates by the difference of its effects. */
function putCoin(records: Records, before: CoinRecord | undefined, after: CoinRecord) {
  records.put(coinKey(after.coinPub), after);
  const b = coinEffect(before);
  const a = coinEffect(after);
  const zero = zeroAmount(after.currency);
  adjustBalance(records, after.currency, [b?.available ?? zero, a?.available ?? zero], undefined);
  adjustResources(records, after.url, (a?.resource ?? 0) - (b?.resource ?? 0), 0);
  if (a?.conflict) records.put(conflictKey(after.coinPub), a.conflict);
  else if (b?.conflict) records.remove(conflictKey(after.coinPub));
}

function putGroup(records: Records, before: GroupRecord | undefined, after: GroupRecord) {
  records.put(groupKey(after.withdrawalGroupId), after);
  const b = groupEffect(before);
  const a = groupEffect(after);
  const zero = zeroAmount(after.currency);
  adjustBalance(records, after.currency, undefined, [b?.pending ?? zero, a?.pending ?? zero]);
  adjustResources(records, after.url, 0, (a?.resource ?? 0) - (b?.resource ?? 0));
}

// ---------------------------------------------------------------- evolve

function integrity(e: SharedEvent, message: string): never {
  throw new WalletError("event-inconsistent", `event ${e.device}:${e.seq} (${e.type}): ${message}`, {
    device: e.device,
    seq: e.seq,
  });
}

function createCoins(records: Records, e: SharedEvent, url: string, coins: CoinData[], origin: CoinRecord["origin"]) {
  for (const c of coins) {
    // Coins are created exactly once; a second creation (even concurrent) is refused, in any order.
    if (records.get(coinKey(c.coinPub))) integrity(e, `coin ${c.coinPub} already exists`);
    const rec: CoinRecord = {
      coinPub: c.coinPub,
      url,
      currency: parseAmount(c.value).currency,
      value: c.value,
      denomPubHash: c.denomPubHash,
      origin,
      d: e.device,
      s: e.seq,
      spends: {},
      removed: false,
    };
    if (c.coinPriv !== undefined || c.blindingKey !== undefined || c.denomSig !== undefined) {
      rec.secrets = {};
      if (c.coinPriv !== undefined) rec.secrets.coinPriv = c.coinPriv;
      if (c.blindingKey !== undefined) rec.secrets.blindingKey = c.blindingKey;
      if (c.denomSig !== undefined) rec.secrets.denomSig = c.denomSig;
    }
    records.put(["coinx", url, c.coinPub], 1);
    putCoin(records, undefined, rec);
  }
}

function addSpend(records: Records, e: SharedEvent, coinPub: string, key: string, amount: AmountString, purchaseId?: string) {
  const before = records.get<CoinRecord>(coinKey(coinPub));
  if (!before) integrity(e, `spends unknown coin ${coinPub}`);
  if (parseAmount(amount).currency !== before.currency) integrity(e, `spends ${amount} from a ${before.currency} coin`);
  const entry: SpendEntry = { amount, l: e.lamport, d: e.device, s: e.seq };
  if (purchaseId !== undefined) entry.purchaseId = purchaseId;
  const existing = before.spends[key];
  if (existing) {
    const byAmount = cmpAmounts(parseAmount(amount), parseAmount(existing.amount));
    if (byAmount < 0 || (byAmount === 0 && !stampLess({ l: entry.l, d: entry.d, s: entry.s }, existing))) return;
  }
  putCoin(records, before, { ...before, spends: { ...before.spends, [key]: entry } });
}

/** Keys of a coin's spends: "s:" + spend id, "r:" + refresh group id. */
export const spendKey = (spendId: string) => `s:${spendId}`;
export const refreshKey = (refreshGroupId: string) => `r:${refreshGroupId}`;

/** How a spend is shown (getCoin, listConflicts): its spend id, or "refresh:<group>" for a refresh. */
export const spendName = (key: string) => (key.startsWith("r:") ? `refresh:${key.slice(2)}` : key.slice(2));

/** The names of a coin's spends, sorted. */
export const spendNames = (c: CoinRecord): string[] => Object.keys(c.spends).map(spendName).sort();

export const coinsProjection: Projection = {
  name: "coins",
  evolveShared(records, e) {
    switch (e.type) {
      case "coins-withdrawn": {
        const { url, withdrawalGroupId: id } = e.data;
        const before = records.get<GroupRecord>(groupKey(id));
        const currency = e.data.coins.length > 0 ? parseAmount(e.data.coins[0].value).currency : parseAmount(e.data.amount ?? "").currency;
        if (before && before.url !== url) integrity(e, `withdrawal group ${id} belongs to ${before.url}`);
        if (before && before.currency !== currency) integrity(e, `withdrawal group ${id} is in ${before.currency}`);
        for (const c of e.data.coins) {
          if (parseAmount(c.value).currency !== currency) integrity(e, "coins of one withdrawal must share a currency");
        }
        createCoins(records, e, url, e.data.coins, { kind: "withdrawal", id });
        let withdrawn = parseAmount(before?.withdrawn ?? `${currency}:0`);
        for (const c of e.data.coins) withdrawn = addAmounts(withdrawn, parseAmount(c.value));
        const after: GroupRecord = {
          withdrawalGroupId: id,
          url,
          currency,
          contributors: { ...before?.contributors },
          // A new group starts from every purge of its exchange seen so far, as if it had
          // existed when they arrived: its record is then the same in any arrival order.
          // Safe, since a purge that observed this event would have arrived after it.
          removed: before?.removed ?? { ...records.get<VectorClock>(purgedKey(url)) },
          withdrawn: formatAmount(withdrawn),
          coins: (before?.coins ?? 0) + e.data.coins.length,
          aborted: before?.aborted ?? false,
        };
        const instructed = [before?.instructed, e.data.amount].filter((x): x is string => x !== undefined);
        if (instructed.length > 0) {
          after.instructed = instructed.reduce((a, b) => (cmpAmounts(parseAmount(a), parseAmount(b)) >= 0 ? a : b));
        }
        contribute(after.contributors, e);
        records.put(["wgx", url, id], 1);
        putGroup(records, before, after);
        return;
      }
      case "coin-spent":
        addSpend(records, e, e.data.coinPub, spendKey(e.data.spendId), e.data.amount, e.data.purchaseId);
        return;
      case "coins-refreshed": {
        for (const input of e.data.inputs) {
          addSpend(records, e, input.coinPub, refreshKey(e.data.refreshGroupId), input.amount);
        }
        createCoins(records, e, e.data.url, e.data.outputs, { kind: "refresh", id: e.data.refreshGroupId });
        return;
      }
      case "withdrawal-group-aborted": {
        const before = records.get<GroupRecord>(groupKey(e.data.withdrawalGroupId));
        if (!before) integrity(e, `aborts unknown withdrawal group ${e.data.withdrawalGroupId}`);
        if (!before.aborted) putGroup(records, before, { ...before, aborted: true });
        return;
      }
      case "exchange-deleted": {
        // A plain delete removes the entry only (it was refused while value was left);
        // a purge also removes coins and groups, and only those its author had seen.
        if (!e.data.purge) return;
        const url = e.data.url;
        records.put(purgedKey(url), join(records.get<VectorClock>(purgedKey(url)) ?? {}, e.deps));
        // Keys are collected first: the loop writes into the range it reads.
        for (const { key } of [...records.entries(["coinx", url])]) {
          const before = records.get<CoinRecord>(coinKey(key[2] as string))!;
          if (!before.removed && covers(e.deps, before.d, before.s)) putCoin(records, before, { ...before, removed: true });
        }
        for (const { key } of [...records.entries(["wgx", url])]) {
          const before = records.get<GroupRecord>(groupKey(key[2] as string))!;
          const removed = join(before.removed, e.deps);
          if (removed !== before.removed) putGroup(records, before, { ...before, removed });
        }
        return;
      }
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
  return [...records.entries<BalanceRecord>(["bal"])].map(({ value }) => value);
}

export function listConflictRecords(records: Records): { kind: "double-spend"; coinPub: string; spendIds: string[] }[] {
  return [...records.entries<string[]>(["conflict"])].map(({ key, value }) => ({
    kind: "double-spend" as const,
    coinPub: key[1] as string,
    spendIds: value,
  }));
}

/** What is left of a live coin, or undefined when it is removed or unknown. */
export function coinRemaining(c: CoinRecord): Amount | undefined {
  const eff = coinEffect(c);
  return eff?.available;
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
  let currency = currentKeys(ex)?.currency ?? group?.currency;
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
  const existing = coin.spends[spendKey(spendId)];
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

export function decideRecordRefresh(
  records: Records,
  req: { refreshGroupId: string; inputs: { coinPub: string; amount: AmountString }[]; outputs: CoinData[] },
): Decision<{ refreshGroupId: string }> {
  const { refreshGroupId } = req;
  if (isRecordedRefresh(records, req)) return noEvents({ refreshGroupId });
  let url: string | undefined;
  let currency: string | undefined;
  let consumed: Amount | undefined;
  const seen = new Set<string>();
  for (const input of req.inputs) {
    const coin = requireLiveCoin(records, input.coinPub);
    if (seen.has(coin.coinPub)) throw new WalletError("request-invalid", `coin ${coin.coinPub} is refreshed twice`);
    seen.add(coin.coinPub);
    if (url !== undefined && coin.url !== url) throw new WalletError("request-invalid", "all refreshed coins must come from one exchange");
    url = coin.url;
    currency = coin.currency;
    if (coin.spends[refreshKey(refreshGroupId)]) throw new WalletError("spend-duplicate", `refresh ${refreshGroupId} already consumed ${coin.coinPub}`);
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

/** True when exactly this refresh (same inputs and amounts, same outputs) is already recorded: a retry. */
function isRecordedRefresh(records: Records, req: { refreshGroupId: string; inputs: { coinPub: string; amount: AmountString }[]; outputs: CoinData[] }): boolean {
  const key = refreshKey(req.refreshGroupId);
  const inputsMatch = req.inputs.every((i) => getCoin(records, i.coinPub)?.spends[key]?.amount === i.amount);
  const outputsMatch = req.outputs.every((o) => {
    const c = getCoin(records, o.coinPub);
    return c !== undefined && c.origin.kind === "refresh" && c.origin.id === req.refreshGroupId && c.value === o.value;
  });
  return inputsMatch && outputsMatch;
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

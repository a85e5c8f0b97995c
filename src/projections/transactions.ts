// The history a wallet UI shows, derived from the log itself (never stored
// beside it): every withdrawal, spend, refresh and aborted withdrawal, merged
// ones from other devices included, each naming the event that made it.
import { addUnits, formatUnits, parseAmount, subUnits, unitsOf, ZERO_UNITS, type AmountString, type Units } from "../codec/amounts.ts";
import type { Dot } from "../events/clock.ts";
import type { SharedEvent } from "../events/envelope.ts";
import { assertNever } from "./exchanges.ts";

export type TransactionType = "withdrawal" | "spend" | "refresh" | "withdrawal-aborted";

export interface Transaction {
  type: TransactionType;
  /** What it moved, always non-negative: added by a withdrawal, taken by a spend or a refresh's fee; 0 for an abort. */
  amountEffective: AmountString;
  /** The authoring device's wall clock (ms) when it recorded the event. */
  timestamp: number;
  exchangeBaseUrl?: string;
  /** The event that made it; `dot.device` says which device recorded it. */
  dot: Dot;
}

export interface TransactionFilter {
  currency?: string;
  exchangeBaseUrl?: string;
}

/** What the history needs to know of a coin or group it does not see in the event itself. */
export interface TransactionLookup {
  coin(coinPub: string):
    | {
        url: string;
        currency: string;
        /** The dot of the spend that counts for a spend id (recorded on two devices, it counts once). */
        countedSpend(spendId: string): { d: string; s: number } | undefined;
      }
    | undefined;
  group(withdrawalGroupId: string): { url: string; currency: string } | undefined;
}

// Units, not Amounts: the coins of one valid event can add up past 2^52 (the balance carries such a
// total exactly and shows it saturated); a history that threw here could never be listed again.
const sum = (values: Iterable<string>): Units => {
  let total = ZERO_UNITS;
  for (const v of values) total = addUnits(total, unitsOf(v));
  return total;
};

/** The transaction an event is, if it is one (exchange events are not). */
export function transactionOf(e: SharedEvent, lookup: TransactionLookup): (Transaction & { currency: string }) | undefined {
  const base = { timestamp: e.time, dot: { device: e.device, seq: e.seq } };
  switch (e.type) {
    case "coins-withdrawn": {
      const currency = parseAmount(e.data.coins[0]?.value ?? e.data.amount!).currency;
      const amount = sum(e.data.coins.map((c) => c.value));
      return { ...base, type: "withdrawal", currency, amountEffective: formatUnits(currency, amount), exchangeBaseUrl: e.data.url };
    }
    case "coin-spent": {
      const coin = lookup.coin(e.data.coinPub);
      // The same spend recorded on another device too: the balance counts one of them, and so does the history.
      const counted = coin?.countedSpend(e.data.spendId);
      if (counted && (counted.d !== e.device || counted.s !== e.seq)) return undefined;
      const currency = parseAmount(e.data.amount).currency;
      const t = { ...base, type: "spend" as const, currency, amountEffective: e.data.amount };
      return coin ? { ...t, exchangeBaseUrl: coin.url } : t;
    }
    case "coins-refreshed": {
      const currency = parseAmount(e.data.inputs[0].amount).currency;
      const fee = subUnits(sum(e.data.inputs.map((i) => i.amount)), sum(e.data.outputs.map((c) => c.value)));
      return { ...base, type: "refresh", currency, amountEffective: formatUnits(currency, fee), exchangeBaseUrl: e.data.url };
    }
    case "withdrawal-group-aborted": {
      const g = lookup.group(e.data.withdrawalGroupId);
      if (!g) return undefined;
      return { ...base, type: "withdrawal-aborted", currency: g.currency, amountEffective: `${g.currency}:0`, exchangeBaseUrl: g.url };
    }
    case "exchange-added":
    case "exchange-keys-fetched":
    case "exchange-update-failed":
    case "exchange-tos-offered":
    case "exchange-tos-accepted":
    case "exchange-tos-forgotten":
    case "exchange-suspended":
    case "exchange-unsuspended":
    case "exchange-deleted":
      return undefined;
    default:
      return assertNever(e);
  }
}

/** The transactions among `events` that pass `filter`, newest first (by lamport, then device, then seq). */
export function listTransactions(
  events: Iterable<SharedEvent>,
  lookup: TransactionLookup,
  filter: TransactionFilter,
): Transaction[] {
  const out: { t: Transaction; l: number }[] = [];
  for (const e of events) {
    const t = transactionOf(e, lookup);
    if (!t) continue;
    if (filter.currency !== undefined && t.currency !== filter.currency) continue;
    if (filter.exchangeBaseUrl !== undefined && t.exchangeBaseUrl !== filter.exchangeBaseUrl) continue;
    const { currency: _, ...shown } = t;
    out.push({ t: shown, l: e.lamport });
  }
  out.sort((a, b) => b.l - a.l || (a.t.dot.device < b.t.dot.device ? 1 : a.t.dot.device > b.t.dot.device ? -1 : b.t.dot.seq - a.t.dot.seq));
  return out.map((x) => x.t);
}

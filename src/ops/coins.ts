// Coin requests: the embedding wallet ran the protocol with the exchange; the
// engine records the outcome and guards the invariants.
import { formatAmount } from "../codec/amounts.ts";
import type { EngineContext } from "../engine/context.ts";
import { operation } from "../engine/operation.ts";
import { amount, array, baseUrl, id, maybe, nothing, object, optional, positiveAmount, required, string } from "../engine/request.ts";
import { WalletError } from "../errors.ts";
import {
  coinFacts,
  coinRemaining,
  decideAbortWithdrawal,
  decideRecordRefresh,
  decideRecordSpend,
  decideRecordWithdrawal,
  getCoin,
  getGroup,
  listBalances,
  listConflictRecords,
  spendNames,
  countedSpend,
} from "../projections/coins.ts";
import { listTransactions } from "../projections/transactions.ts";
import type { AmountString } from "../codec/amounts.ts";

export interface Balance {
  currency: string;
  available: AmountString;
  /** Instructed but not yet withdrawn, over withdrawals that are not aborted. */
  pendingIncoming: AmountString;
}

export interface Conflict {
  kind: "double-spend";
  coinPub: string;
  spendIds: string[];
}

export interface CoinInfo {
  coinPub: string;
  exchangeBaseUrl: string;
  denomPubHash: string;
  value: AmountString;
  remaining: AmountString;
  origin: { kind: "withdrawal" | "refresh"; id: string };
  spendIds: string[];
}

const coin = object({
  coinPub: required(id),
  denomPubHash: required(id),
  value: required(positiveAmount),
  coinPriv: optional(string),
  blindingKey: optional(string),
  denomSig: optional(string),
});

const currency = (v: unknown, path: string): string => {
  if (typeof v !== "string" || !/^[A-Za-z][A-Za-z0-9_-]{0,11}$/.test(v)) {
    throw new WalletError("request-invalid", `${path} must be a currency code like "KUDOS"`, { path });
  }
  return v;
};

function coinInfo(ctx: EngineContext, coinPub: string): CoinInfo {
  const c = getCoin(ctx.records, coinPub);
  if (!c || c.removed) throw new WalletError("coin-unknown", `no coin ${coinPub} in this wallet`, { coinPub });
  // The coin's immutable facts live in the event that created it (or, folded into a snapshot, in the base).
  const facts = coinFacts(c, ctx.store.getEvent(c.d, c.s), ctx.store.baseRecords);
  if (!facts) throw new WalletError("store-corrupt", `coin ${coinPub}: neither its creating event ${c.d}:${c.s} nor the base holds its facts`, { coinPub });
  const remaining = coinRemaining(c);
  return {
    coinPub: c.coinPub,
    exchangeBaseUrl: c.url,
    denomPubHash: facts.denomPubHash,
    value: c.value,
    remaining: remaining ? formatAmount(remaining) : `${c.currency}:0`,
    origin: facts.origin,
    spendIds: spendNames(c),
  };
}

export const coinOperations = {
  recordWithdrawal: operation(
    object({
      exchangeBaseUrl: required(baseUrl),
      withdrawalGroupId: optional(id),
      amount: optional(amount),
      coins: required(array(coin)),
    }),
    (ctx, req) => {
      const withdrawalGroupId = req.withdrawalGroupId ?? ctx.newId();
      return ctx.transact((r) =>
        decideRecordWithdrawal(r, { url: req.exchangeBaseUrl, withdrawalGroupId, amount: req.amount, coins: req.coins }),
      );
    },
  ),

  recordSpend: operation(
    object({ coinPub: required(id), amount: required(positiveAmount), spendId: optional(id), purchaseId: optional(string) }),
    (ctx, req) => {
      const spendId = req.spendId ?? ctx.newId();
      return ctx.transact((r) => decideRecordSpend(r, { ...req, spendId }));
    },
  ),

  recordRefresh: operation(
    object({
      refreshGroupId: optional(id),
      inputs: required(array(object({ coinPub: required(id), amount: required(positiveAmount) }), { min: 1 })),
      outputs: required(array(coin)),
    }),
    (ctx, req) => {
      const refreshGroupId = req.refreshGroupId ?? ctx.newId();
      return ctx.transact((r) => decideRecordRefresh(r, { refreshGroupId, inputs: req.inputs, outputs: req.outputs }, ctx.store.getEvent));
    },
  ),

  abortWithdrawal: operation(object({ withdrawalGroupId: required(id) }), (ctx, req) =>
    ctx.transact((r) => decideAbortWithdrawal(r, req)),
  ),

  getBalances: operation(nothing, (ctx): { balances: Balance[] } => ({ balances: listBalances(ctx.records) })),

  listConflicts: operation(nothing, (ctx): { conflicts: Conflict[] } => ({ conflicts: listConflictRecords(ctx.records) })),

  getCoin: operation(object({ coinPub: required(id) }), (ctx, req) => coinInfo(ctx, req.coinPub)),

  /** Withdrawals, spends, refreshes and aborted withdrawals, newest first, from every device's log. */
  getTransactions: operation(maybe(object({ currency: optional(currency), exchangeBaseUrl: optional(baseUrl) })), (ctx, req) => {
    const lookup = {
      coin: (pub: string) => {
        const c = getCoin(ctx.records, pub);
        return c && { url: c.url, currency: c.currency, countedSpend: (spendId: string) => countedSpend(c, spendId) };
      },
      group: (gid: string) => getGroup(ctx.records, gid),
    };
    return { transactions: listTransactions(ctx.store.eventsInCausalOrder(), lookup, req) };
  }),
};

// `wallet-engine withdraw | spend | balances | transactions | conflicts`.
// withdraw and spend record outcomes as an embedding wallet would after
// running the protocol with the exchange: for tests and demos, not payments.
import { normalizeAmount } from "../codec/amounts.ts";
import { encodeCrock } from "../codec/crockford.ts";
import { sha512 } from "../codec/hash.ts";
import { randomBytes } from "../codec/keys.ts";
import type { Balance, Conflict } from "../ops/coins.ts";
import type { Transaction } from "../projections/transactions.ts";
import { UsageError, type Command } from "./command.ts";
import { abbreviate, alignAmounts, formatAmountHuman, formatTime, status, table } from "./format.ts";

interface CoinSpec {
  coinPub: string;
  denomPubHash: string;
  value: string;
}

/** `KUDOS:5` (a coin with a fresh key) or `COINPUB=KUDOS:5`. */
function coinOf(spec: string, command: Command): CoinSpec {
  const eq = spec.lastIndexOf("=");
  const value = eq < 0 ? spec : spec.slice(eq + 1);
  const coinPub = eq < 0 ? encodeCrock(randomBytes(32)) : spec.slice(0, eq);
  if (coinPub === "" || !/^[A-Za-z][A-Za-z0-9_-]*:\d/.test(value)) {
    throw new UsageError(`a coin is VALUE or COINPUB=VALUE with VALUE like KUDOS:5, got ${JSON.stringify(spec)}`, command);
  }
  let canonical = value;
  try {
    canonical = normalizeAmount(value);
  } catch {
    // Left as given: the engine refuses it with amount-invalid, naming the coin.
  }
  // One made-up denomination per value, so coins of equal value share it as real ones would.
  return { coinPub, value: canonical, denomPubHash: encodeCrock(sha512(`wallet-engine demo denomination ${canonical}`)) };
}

const withdraw: Command = {
  words: ["withdraw"],
  summary: "record a withdrawal of coins from an exchange (test and demo use)",
  description: [
    "Each COIN is a value (KUDOS:5: a coin with a fresh random key) or COINPUB=VALUE; with --amount and",
    "no coins the withdrawal is recorded as pending.",
    "The exchange must have been added and not be suspended. Prints the group id and the coins' keys (for spend).",
  ].join("\n"),
  args: [{ name: "URL" }, { name: "COIN", variadic: true, optional: true }],
  options: {
    group: { type: "string", value: "ID", help: "withdrawal group id (default: a new one; the same id adds coins to the group)" },
    amount: { type: "string", value: "AMOUNT", help: "amount instructed for the group, when more is still to come" },
  },
  wallet: "existing",
  async run(cx) {
    const [exchangeBaseUrl, ...specs] = cx.args;
    const coins = specs.map((s) => coinOf(s, withdraw));
    const req: Record<string, unknown> = { exchangeBaseUrl, coins };
    if (cx.opts.group !== undefined) req.withdrawalGroupId = cx.opts.group;
    if (cx.opts.amount !== undefined) req.amount = cx.opts.amount;
    const { withdrawalGroupId } = (await cx.request("recordWithdrawal", req)) as { withdrawalGroupId: string };
    cx.print({ withdrawalGroupId, coins }, () => {
      const values = alignAmounts(coins.map((c) => c.value));
      return [
        `withdrawal group ${withdrawalGroupId}`,
        ...(coins.length === 0 ? ["no coins yet"] : ["", table(cx.style, ["COIN", "VALUE"], coins.map((c, i) => [c.coinPub, values[i]]))]),
      ].join("\n");
    });
  },
};

const spend: Command = {
  words: ["spend"],
  summary: "record a spend of part or all of a coin (test and demo use)",
  args: [{ name: "COINPUB" }, { name: "AMOUNT" }],
  options: { id: { type: "string", value: "SPENDID", help: "spend id (default: a new one; the same id again is a retry)" } },
  wallet: "existing",
  async run(cx) {
    const req: Record<string, unknown> = { coinPub: cx.args[0], amount: cx.args[1] };
    if (cx.opts.id !== undefined) req.spendId = cx.opts.id;
    const res = (await cx.request("recordSpend", req)) as { spendId: string };
    cx.print(res, () => `spent ${formatAmountHuman(normalizeAmount(cx.args[1]))} of coin ${abbreviate(cx.args[0], 24)} (spend ${res.spendId})`);
  },
};

const balances: Command = {
  words: ["balances"],
  summary: "the balance of each currency: available and pending incoming",
  args: [],
  options: {},
  wallet: "existing",
  async run(cx) {
    const res = (await cx.request("getBalances")) as { balances: Balance[] };
    cx.print(res, () => {
      if (res.balances.length === 0) return "no balances";
      const available = alignAmounts(res.balances.map((b) => b.available));
      const pending = alignAmounts(res.balances.map((b) => b.pendingIncoming));
      return table(cx.style, ["AVAILABLE", "PENDING INCOMING"], res.balances.map((_, i) => [available[i], pending[i]]));
    });
  },
};

const SIGN: Record<Transaction["type"], string> = { withdrawal: "+", spend: "-", refresh: "-", "withdrawal-aborted": " " };

const transactions: Command = {
  words: ["transactions"],
  summary: "withdrawals, spends, refreshes and aborts of every device, newest first",
  args: [],
  options: {
    currency: { type: "string", value: "CUR", help: "only this currency" },
    exchange: { type: "string", value: "URL", help: "only this exchange" },
  },
  wallet: "existing",
  async run(cx) {
    const req: Record<string, unknown> = {};
    if (cx.opts.currency !== undefined) req.currency = cx.opts.currency;
    if (cx.opts.exchange !== undefined) req.exchangeBaseUrl = cx.opts.exchange;
    const res = (await cx.request("getTransactions", req)) as { transactions: Transaction[] };
    cx.print(res, () => {
      if (res.transactions.length === 0) return "no transactions";
      const amounts = alignAmounts(res.transactions.map((t) => t.amountEffective));
      return table(
        cx.style,
        ["TIME", "TYPE", "AMOUNT", "EXCHANGE", "EVENT"],
        res.transactions.map((t, i) => [
          formatTime(t.timestamp),
          t.type,
          { text: `${SIGN[t.type]} ${amounts[i]}`, colour: t.type === "withdrawal" ? "green" : t.type === "withdrawal-aborted" ? "dim" : undefined },
          t.exchangeBaseUrl ?? "-",
          `${t.dot.device}:${t.dot.seq}`,
        ]),
      );
    });
  },
};

const conflicts: Command = {
  words: ["conflicts"],
  summary: "double spends found when devices' logs merged",
  args: [],
  options: {},
  wallet: "existing",
  async run(cx) {
    const res = (await cx.request("listConflicts")) as { conflicts: Conflict[] };
    cx.print(res, () =>
      res.conflicts.length === 0
        ? "no conflicts"
        : table(cx.style, ["KIND", "COIN", "SPENDS"], res.conflicts.map((c) => [status(c.kind), c.coinPub, c.spendIds.join(", ")])),
    );
  },
};

export const coinCommands: Command[] = [withdraw, spend, balances, transactions, conflicts];

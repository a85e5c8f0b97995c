// getTransactions: the history a wallet UI shows, derived from the log,
// newest first, merged events marked with the device that recorded them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Wallet } from "../src/wallet.ts";
import { tempWallet } from "./support/temp-wallet.ts";

let a: Wallet;
let b: Wallet;
const cleanups: (() => unknown)[] = [];
let t = Date.UTC(2025, 0, 15, 12, 0, 0);
const EX = "https://ex.example/";
const EUR = "https://eur.example/";
const coin = (pub: string, value: string) => ({ coinPub: pub, denomPubHash: "d", value });

beforeAll(async () => {
  const ta = await tempWallet({ deviceId: "A", now: () => t++ });
  const tb = await tempWallet({ deviceId: "B", now: () => t++ });
  cleanups.push(ta.cleanup, tb.cleanup);
  a = ta.wallet;
  b = tb.wallet;
  await a.addExchange({ exchangeBaseUrl: EX });
  await a.addExchange({ exchangeBaseUrl: EUR });
  await a.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "w1", coins: [coin("k1", "KUDOS:4"), coin("k2", "KUDOS:2")] });
  await a.recordSpend({ coinPub: "k1", amount: "KUDOS:1.5", spendId: "s1" });
  await a.recordRefresh({ refreshGroupId: "r1", inputs: [{ coinPub: "k2", amount: "KUDOS:2" }], outputs: [coin("k3", "KUDOS:1.75")] });
  await a.recordWithdrawal({ exchangeBaseUrl: EUR, withdrawalGroupId: "w2", amount: "EUR:5", coins: [coin("e1", "EUR:1")] });
  await a.abortWithdrawal({ withdrawalGroupId: "w2" });
  await b.importEvents(await a.exportEvents());
  await b.recordSpend({ coinPub: "e1", amount: "EUR:0.5", spendId: "s2" });
  await a.importEvents(await b.exportEvents({ since: await a.getVectorClock() }));
});

afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe("getTransactions", () => {
  it("lists withdrawals, spends, refreshes and aborts, newest first, each with its amount effect and dot", async () => {
    const { transactions } = await a.getTransactions();
    expect(transactions.map(({ type, amountEffective, exchangeBaseUrl, dot }) => ({ type, amountEffective, exchangeBaseUrl, dot }))).toEqual([
      { type: "spend", amountEffective: "EUR:0.5", exchangeBaseUrl: EUR, dot: { device: "B", seq: 1 } },
      { type: "withdrawal-aborted", amountEffective: "EUR:0", exchangeBaseUrl: EUR, dot: { device: "A", seq: 7 } },
      { type: "withdrawal", amountEffective: "EUR:1", exchangeBaseUrl: EUR, dot: { device: "A", seq: 6 } },
      { type: "refresh", amountEffective: "KUDOS:0.25", exchangeBaseUrl: EX, dot: { device: "A", seq: 5 } },
      { type: "spend", amountEffective: "KUDOS:1.5", exchangeBaseUrl: EX, dot: { device: "A", seq: 4 } },
      { type: "withdrawal", amountEffective: "KUDOS:6", exchangeBaseUrl: EX, dot: { device: "A", seq: 3 } },
    ]);
    for (const tx of transactions) expect(typeof tx.timestamp).toBe("number");
  });

  it("is the same on both devices once they hold the same events", async () => {
    await b.importEvents(await a.exportEvents({ since: await b.getVectorClock() }));
    expect(await b.getTransactions()).toEqual(await a.getTransactions());
  });

  it("filters by currency and by exchange", async () => {
    const eur = await a.getTransactions({ currency: "EUR" });
    expect(eur.transactions.map((x) => x.type)).toEqual(["spend", "withdrawal-aborted", "withdrawal"]);
    const ex = await a.getTransactions({ exchangeBaseUrl: "ex.example" });
    expect(ex.transactions.map((x) => x.type)).toEqual(["refresh", "spend", "withdrawal"]);
    expect(await a.getTransactions({ currency: "TESTKUDOS" })).toEqual({ transactions: [] });
  });

  it("refuses a malformed filter", async () => {
    await expect(a.getTransactions({ currency: "bad currency" })).rejects.toMatchObject({ code: "request-invalid" });
    await expect(a.getTransactions({ exchangeBaseUrl: "ftp://x" })).rejects.toMatchObject({ code: "url-invalid" });
  });
});

// Coins across devices, regression examples for bugs found by review (stop 25):
// two refreshes under one group id melt a coin twice; a peer's refresh that
// mints value or mixes currencies is refused on import; a group keeps the
// currency it was recorded in; one spend id recorded on two devices is one
// spend in the history as in the balance; totals past 2^52 merge.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WalletError, type Wallet } from "../src/index.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { walletScope } from "./support/temp-wallet.ts";

const EX = "https://ex1.test/";
const scope = walletScope();
const tempWallet = (deviceId?: string) => scope.open(deviceId);
afterEach(() => scope.cleanup());
const coin = (coinPub: string, value: string) => ({ coinPub, denomPubHash: "D", value });
async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; } catch (e) { return e instanceof WalletError ? e.code : `raw:${String(e)}`; }
  return undefined;
}
async function sync(from: Wallet, to: Wallet) {
  return to.importEvents(await from.exportEvents({ since: await to.getVectorClock() }));
}

describe("refresh id reused on two devices", () => {
  it("two concurrent refreshes of one coin under one refresh id double-spend it: a conflict must be listed", async () => {
    const a = await tempWallet("devA");
    const b = await tempWallet("devB");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:10")] });
    await sync(a, b);
    await a.recordRefresh({ refreshGroupId: "R", inputs: [{ coinPub: "C1", amount: "KUDOS:10" }], outputs: [coin("OA", "KUDOS:10")] });
    await b.recordRefresh({ refreshGroupId: "R", inputs: [{ coinPub: "C1", amount: "KUDOS:10" }], outputs: [coin("OB", "KUDOS:10")] });
    await sync(a, b);
    await sync(b, a);
    // The events: 10 withdrawn, then two different melts of that coin (each of 10) made OA and OB worth 10 each.
    for (const w of [a, b]) {
      expect((await w.getBalances()).balances[0].available).toBe("KUDOS:20"); // 20 out of 10 ...
      expect((await w.listConflicts()).conflicts).toEqual([{ kind: "double-spend", coinPub: "C1", spendIds: ["refresh:R@devA:3", "refresh:R@devB:1"] }]);
      expect((await w.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0");
    }
    // Each device still recognizes its own refresh as recorded (a retry is no new event) ...
    expect(await a.recordRefresh({ refreshGroupId: "R", inputs: [{ coinPub: "C1", amount: "KUDOS:10" }], outputs: [coin("OA", "KUDOS:10")] })).toEqual({ refreshGroupId: "R" });
    expect(await a.getVectorClock()).toEqual({ devA: 3, devB: 1 });
    // ... and refuses another melt of the coin under the group.
    expect(await codeOf(a.recordRefresh({ refreshGroupId: "R", inputs: [{ coinPub: "C1", amount: "KUDOS:10" }], outputs: [] }))).toBe("spend-duplicate");
  });
});

describe("imported refresh events are checked as the decider checks its own", () => {
  async function withCoin() {
    const a = await tempWallet("devA");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    return a;
  }
  const refreshEvent = (outputs: { coinPub: string; denomPubHash: string; value: string }[]) => ({
    device: "evil", seq: 1, lamport: 10, deps: { devA: 2 }, time: Date.UTC(2025, 0, 1),
    type: "coins-refreshed",
    data: { refreshGroupId: "R", url: EX, inputs: [{ coinPub: "C1", amount: "KUDOS:1" }], outputs },
  });

  it("a refresh creating more than it consumes is refused on import (else getTransactions fails for good)", async () => {
    const a = await withCoin();
    const code = await codeOf(a.importEvents([refreshEvent([coin("X", "KUDOS:100")])]));
    const tx = await codeOf(a.getTransactions());
    const bal = (await a.getBalances()).balances;
    expect({ code, tx, bal }).toEqual({ code: "event-inconsistent", tx: undefined, bal: [{ currency: "KUDOS", available: "KUDOS:1", pendingIncoming: "KUDOS:0" }] });
  });

  it("a refresh whose outputs are in another currency is refused on import (else getTransactions fails for good)", async () => {
    const a = await withCoin();
    const code = await codeOf(a.importEvents([refreshEvent([coin("X", "EUR:1")])]));
    const tx = await codeOf(a.getTransactions());
    expect({ code, tx }).toEqual({ code: "event-inconsistent", tx: undefined });
  });
});

describe("a group recorded before /keys in another currency", () => {
  let ex: TestExchange;
  beforeAll(async () => { ex = await startTestExchange({ currency: "KUDOS" }); });
  afterAll(() => ex.close());

  it("more coins for the group in the /keys currency are refused as currency-mismatch, not event-inconsistent", async () => {
    const w = await tempWallet("devA");
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, withdrawalGroupId: "G", coins: [coin("C1", "TESTKUDOS:1")] });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const code = await codeOf(w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, withdrawalGroupId: "G", coins: [coin("C2", "KUDOS:1")] }));
    expect(code).toBe("currency-mismatch");
  });
});

describe("one spend id recorded on two devices", () => {
  it("is one spend in the balance, and so one spend in the transaction history", async () => {
    const a = await tempWallet("devA");
    const b = await tempWallet("devB");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await sync(a, b);
    await a.recordSpend({ coinPub: "C1", amount: "KUDOS:0.8", spendId: "same" });
    await b.recordSpend({ coinPub: "C1", amount: "KUDOS:0.8", spendId: "same" });
    await sync(a, b);
    await sync(b, a);
    expect((await a.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0.2");
    const spends = (await a.getTransactions()).transactions.filter((t) => t.type === "spend");
    expect(spends.map((t) => t.amountEffective)).toEqual(["KUDOS:0.8"]);
  });
});


describe("totals past 2^52", () => {
  const MAX = 2 ** 52;
  it("two logs valid alone merge although their balance passes 2^52; the total stays exact underneath", async () => {
    const a = await tempWallet("a");
    const b = await tempWallet("b");
    await a.addExchange({ exchangeBaseUrl: "https://x.example/" });
    await b.addExchange({ exchangeBaseUrl: "https://y.example/" });
    await a.recordWithdrawal({ exchangeBaseUrl: "https://x.example/", coins: [coin("c1", `KUDOS:${MAX}`)] });
    await b.recordWithdrawal({ exchangeBaseUrl: "https://y.example/", coins: [coin("c2", "KUDOS:1.5")] });
    // Before: amount-overflow, for good (every backup merge of these two devices failed the same way).
    expect(await a.importEvents(await b.exportEvents())).toEqual({ added: 2, known: 0 });
    await sync(a, b);
    for (const w of [a, b]) expect((await w.getBalances()).balances).toEqual([{ currency: "KUDOS", available: `KUDOS:${MAX}.99999999`, pendingIncoming: "KUDOS:0" }]);
    // Spending the large coin brings the total back below 2^52: exactly what is left.
    await a.recordSpend({ coinPub: "c1", amount: `KUDOS:${MAX}`, spendId: "all" });
    expect((await a.getBalances()).balances[0].available).toBe("KUDOS:1.5");
    // A rebuild folds to the same records.
    const before = await a.dumpProjections();
    await a.rebuild();
    expect(await a.dumpProjections()).toEqual(before);
  });

  it("concurrent spends of a large coin that add up past 2^52 are a listed conflict, not a refused merge", async () => {
    const a = await tempWallet("a");
    const b = await tempWallet("b");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("big", `KUDOS:${MAX}`), coin("small", "KUDOS:2")] });
    await sync(a, b);
    await a.recordSpend({ coinPub: "big", amount: `KUDOS:${MAX}`, spendId: "sa" });
    await b.recordSpend({ coinPub: "big", amount: `KUDOS:${MAX}`, spendId: "sb" });
    await sync(a, b);
    await sync(b, a);
    for (const w of [a, b]) {
      expect((await w.listConflicts()).conflicts).toEqual([{ kind: "double-spend", coinPub: "big", spendIds: ["sa", "sb"] }]);
      expect((await w.getBalances()).balances[0].available).toBe("KUDOS:2");
    }
    const coinState = async (w: Wallet) => (await w.dumpProjections()).filter((r) => ["coin", "bal", "conflict"].includes(r.key[0] as string));
    expect(await coinState(a)).toEqual(await coinState(b));
  });
});

describe("refresh keys", () => {
it("a refresh recorded in a snapshot of the previous layout still guards its group id", async () => {
  const laptop = await scope.open("laptop", { compactBackupsAbove: 0 });
  await laptop.addExchange({ exchangeBaseUrl: EX });
  await laptop.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:5")] });
  await laptop.recordRefresh({ refreshGroupId: "x:y", inputs: [{ coinPub: "C1", amount: "KUDOS:1" }], outputs: [coin("P1", "KUDOS:0.5")] });
  const c = (await laptop.exportBackupPlain()) as never as { strings: string[]; snapshot: unknown };
  expect(c.snapshot).toBeDefined();
  // The backup as the engine before this diff wrote it (refreshKey was `r:${refreshGroupId}`).
  c.strings[c.strings.indexOf("r:laptop:3:x:y")] = "r:x:y";

  const tablet = await scope.open("tablet");
  await tablet.importBackupPlain(c);
  expect((await tablet.getBalances()).balances.map((b) => b.available)).toEqual(["KUDOS:4.5"]);
  // Group x:y already melted C1: melting it again under that id is the duplicate the decider refuses.
  const again = await tablet
    .recordRefresh({ refreshGroupId: "x:y", inputs: [{ coinPub: "C1", amount: "KUDOS:1" }], outputs: [coin("P2", "KUDOS:0.5")] })
    .then(() => "accepted", (e: { code: string }) => e.code);
  expect(again).toBe("spend-duplicate");
});

it("a retry of this device's own refresh stays a no-op when a peer melted the coin under the same group id", async () => {
  const phone = await tempWallet("phone");
  const laptop = await tempWallet("laptop"); // "r:laptop:…" sorts before "r:phone:…" among the coin's spends
  await phone.addExchange({ exchangeBaseUrl: EX });
  await phone.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:5")] });
  await sync(phone, laptop);
  const mine = { refreshGroupId: "G", inputs: [{ coinPub: "C1", amount: "KUDOS:1" }], outputs: [coin("P1", "KUDOS:0.5")] };
  await phone.recordRefresh(mine);
  expect(await phone.recordRefresh(mine)).toEqual({ refreshGroupId: "G" }); // a retry: recognised
  await laptop.recordRefresh({ refreshGroupId: "G", inputs: [{ coinPub: "C1", amount: "KUDOS:1" }], outputs: [coin("L1", "KUDOS:0.5")] });
  await sync(laptop, phone);
  const clock = await phone.getVectorClock();
  // The same retry once the peer's melt is known: still exactly the phone's recorded refresh.
  expect(await phone.recordRefresh(mine).catch((e: { code: string }) => e.code)).toEqual({ refreshGroupId: "G" });
  expect(await phone.getVectorClock()).toEqual(clock);
});
});

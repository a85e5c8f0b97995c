// Coins, withdrawals, spends, refreshes, balances, resources and conflicts,
// through the public wallet facade on a real LMDB store. Every refusal is
// checked twice: the WalletError code, and that the log and the projections
// are byte-for-byte what they were before the request.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openWallet, WalletError, type Wallet } from "../src/index.ts";
import { sharedRecords, startTestExchange, type TestExchange } from "../src/testing/index.ts";

const EX = "https://ex1.test/";
const EX2 = "https://ex2.test/";

const dirs: string[] = [];
const wallets: Wallet[] = [];

async function tempWallet(deviceId?: string): Promise<Wallet> {
  const path = mkdtempSync(join(tmpdir(), "coins-test-"));
  dirs.push(path);
  const w = await openWallet({ path, deviceId });
  wallets.push(w);
  return w;
}

afterEach(async () => {
  for (const w of wallets.splice(0)) await w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const coin = (coinPub: string, value: string, denomPubHash = "DENOM-1") => ({ coinPub, denomPubHash, value });

async function withExchange(url = EX, deviceId?: string): Promise<Wallet> {
  const w = await tempWallet(deviceId);
  await w.addExchange({ exchangeBaseUrl: url });
  return w;
}

async function snapshot(w: Wallet) {
  return { events: await w.exportEvents(), projections: await sharedRecords(w), clock: await w.getVectorClock() };
}

/** Asserts the request is refused with `code` and that neither the log nor any projection changed. */
async function expectRefused(w: Wallet, code: string, request: () => Promise<unknown>): Promise<void> {
  const before = await snapshot(w);
  const outcome = await request().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a refusal with ${code}, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(WalletError);
  expect((outcome.error as WalletError).code).toBe(code);
  expect(await snapshot(w)).toEqual(before);
}

async function balanceOf(w: Wallet, currency: string) {
  const row = (await w.getBalances()).balances.find((b) => b.currency === currency);
  return row ?? { currency, available: `${currency}:0`, pendingIncoming: `${currency}:0` };
}

describe("recordWithdrawal guards", () => {
  it("refuses an exchange that was never added", async () => {
    const w = await tempWallet();
    await expectRefused(w, "exchange-unknown", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] }));
  });

  it("refuses a suspended exchange", async () => {
    const w = await withExchange();
    await w.setExchangeSuspended({ exchangeBaseUrl: EX, suspended: true });
    await expectRefused(w, "exchange-suspended", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] }));
  });

  it("refuses the same coin twice within one request", async () => {
    const w = await withExchange();
    await expectRefused(w, "coin-duplicate", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1"), coin("C1", "KUDOS:1")] }),
    );
  });

  it("refuses a coin that is already recorded", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await expectRefused(w, "coin-duplicate", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C2", "KUDOS:1"), coin("C1", "KUDOS:1")] }),
    );
  });

  it("refuses coins of two currencies in one withdrawal", async () => {
    const w = await withExchange();
    await expectRefused(w, "currency-mismatch", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1"), coin("C2", "EUR:1")] }),
    );
  });

  it("refuses coins in another currency than the group already holds", async () => {
    const w = await withExchange();
    const { withdrawalGroupId } = await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await expectRefused(w, "currency-mismatch", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId, coins: [coin("C2", "EUR:1")] }),
    );
  });

  it("refuses an instructed amount in another currency than the coins", async () => {
    const w = await withExchange();
    await expectRefused(w, "currency-mismatch", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "EUR:5", coins: [coin("C1", "KUDOS:1")] }),
    );
  });

  describe("against an exchange whose /keys is known", () => {
    let ex: TestExchange;
    beforeAll(async () => {
      ex = await startTestExchange({ currency: "KUDOS" });
    });
    afterAll(() => ex.close());

    async function updatedWallet(): Promise<Wallet> {
      const w = await withExchange(ex.baseUrl);
      const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
      expect(item.currency).toBe("KUDOS");
      return w;
    }

    it("refuses coins in another currency than the exchange's", async () => {
      const w = await updatedWallet();
      await expectRefused(w, "currency-mismatch", () => w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: [coin("C1", "EUR:1")] }));
    });

    it("refuses an instructed amount in another currency than the exchange's", async () => {
      const w = await updatedWallet();
      await expectRefused(w, "currency-mismatch", () => w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, amount: "EUR:3", coins: [] }));
    });

    it("accepts coins in the exchange's currency", async () => {
      const w = await updatedWallet();
      await w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: [coin("C1", "KUDOS:5")] });
      expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:5", pendingIncoming: "KUDOS:0" });
    });
  });

  it.each([
    ["a value without currency", "1.5"],
    ["a negative value", "KUDOS:-1"],
    ["more than 8 fraction digits", "KUDOS:0.123456789"],
    ["an empty fraction", "KUDOS:1."],
    ["a value over 2^52", `KUDOS:${2 ** 52 + 2}`],
  ])("refuses a coin with %s", async (_what, value) => {
    const w = await withExchange();
    await expectRefused(w, "amount-invalid", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", value)] }));
  });

  it("refuses a coin whose value is not a string", async () => {
    const w = await withExchange();
    await expectRefused(w, "amount-invalid", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "C1", denomPubHash: "D", value: 5 as unknown as string }] }),
    );
  });

  it("refuses a malformed instructed amount", async () => {
    const w = await withExchange();
    await expectRefused(w, "amount-invalid", () => w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "five KUDOS", coins: [coin("C1", "KUDOS:1")] }));
  });

  it("refuses a coin worth zero", async () => {
    const w = await withExchange();
    await expectRefused(w, "amount-invalid", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:0.00")] }));
  });

  it("refuses a withdrawal with neither coins nor an instructed amount", async () => {
    const w = await withExchange();
    await expectRefused(w, "request-invalid", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [] }));
  });

  it("refuses a group id that belongs to another exchange", async () => {
    const w = await withExchange();
    await w.addExchange({ exchangeBaseUrl: EX2 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", coins: [coin("C1", "KUDOS:1")] });
    await expectRefused(w, "withdrawal-group-mismatch", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX2, withdrawalGroupId: "G1", coins: [coin("C2", "KUDOS:1")] }),
    );
  });

  it("refuses more coins for an aborted group", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:10", coins: [coin("C1", "KUDOS:1")] });
    await w.abortWithdrawal({ withdrawalGroupId: "G1" });
    await expectRefused(w, "withdrawal-group-aborted", () =>
      w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", coins: [coin("C2", "KUDOS:1")] }),
    );
  });
});

describe("recordWithdrawal effects", () => {
  it("makes an ephemeral exchange used", async () => {
    const w = await withExchange();
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: EX })).exchangeEntryStatus).toBe("ephemeral");
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    const used = await w.listExchanges({ filterByExchangeEntryStatus: "used" });
    expect(used.exchanges.map((e) => e.exchangeBaseUrl)).toEqual([EX]);
  });

  it("makes a preset exchange used", async () => {
    const w = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: EX, preset: true });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: EX })).exchangeEntryStatus).toBe("used");
  });

  it("records one coins-withdrawn event with canonical amounts and returns its group id", async () => {
    const w = await withExchange();
    const { withdrawalGroupId } = await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:03.50", coins: [coin("C1", "KUDOS:1.50")] });
    const events = await w.exportEvents();
    expect(events.map((e) => e.type)).toEqual(["exchange-added", "coins-withdrawn"]);
    expect(events[1].data).toEqual({ url: EX, withdrawalGroupId, amount: "KUDOS:3.5", coins: [coin("C1", "KUDOS:1.5")] });
    const c = await w.getCoin({ coinPub: "C1" });
    expect(c).toEqual({
      coinPub: "C1",
      exchangeBaseUrl: EX,
      denomPubHash: "DENOM-1",
      value: "KUDOS:1.5",
      remaining: "KUDOS:1.5",
      origin: { kind: "withdrawal", id: withdrawalGroupId },
      spendIds: [],
    });
  });

  it("prints sums without trailing zeros", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:2.50"), coin("C2", "KUDOS:5.5")] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:8", pendingIncoming: "KUDOS:0" });
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.25" });
    expect((await balanceOf(w, "KUDOS")).available).toBe("KUDOS:7.75");
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C3", "KUDOS:0.00000001")] });
    expect((await balanceOf(w, "KUDOS")).available).toBe("KUDOS:7.75000001");
  });

  it("lists balances per currency, sorted, over two exchanges", async () => {
    const w = await withExchange(EX);
    await w.addExchange({ exchangeBaseUrl: EX2 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("K1", "KUDOS:4"), coin("K2", "KUDOS:1")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX2, coins: [coin("E1", "EUR:2.5")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX2, amount: "CHF:10", coins: [coin("F1", "CHF:3")] });
    expect((await w.getBalances()).balances).toEqual([
      { currency: "CHF", available: "CHF:3", pendingIncoming: "CHF:7" },
      { currency: "EUR", available: "EUR:2.5", pendingIncoming: "EUR:0" },
      { currency: "KUDOS", available: "KUDOS:5", pendingIncoming: "KUDOS:0" },
    ]);
  });

  it("shows an instructed amount not yet withdrawn as pending until more coins of the group arrive", async () => {
    const w = await withExchange();
    const { withdrawalGroupId } = await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:10", coins: [coin("C1", "KUDOS:4")] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:4", pendingIncoming: "KUDOS:6" });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId, coins: [coin("C2", "KUDOS:5")] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:9", pendingIncoming: "KUDOS:1" });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId, coins: [coin("C3", "KUDOS:1")] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:10", pendingIncoming: "KUDOS:0" });
  });

  it("counts a withdrawal announced without coins as entirely pending", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:7", coins: [] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:0", pendingIncoming: "KUDOS:7" });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 0, withdrawalGroups: 1 });
  });
});

describe("recordSpend", () => {
  async function walletWithCoin(value = "KUDOS:1"): Promise<Wallet> {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", value)] });
    return w;
  }

  it("refuses an unknown coin", async () => {
    const w = await walletWithCoin();
    await expectRefused(w, "coin-unknown", () => w.recordSpend({ coinPub: "NOPE", amount: "KUDOS:0.1" }));
  });

  it("refuses more than the coin is worth", async () => {
    const w = await walletWithCoin();
    await expectRefused(w, "coin-overspent", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:1.00000001" }));
  });

  it("refuses more than what earlier spends left", async () => {
    const w = await walletWithCoin();
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.6" });
    await expectRefused(w, "coin-overspent", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.5" }));
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.4" });
    expect((await w.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0");
    await expectRefused(w, "coin-overspent", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.00000001" }));
  });

  it("refuses a spend in another currency than the coin's", async () => {
    const w = await walletWithCoin();
    await expectRefused(w, "currency-mismatch", () => w.recordSpend({ coinPub: "C1", amount: "EUR:0.1" }));
  });

  it("refuses a zero spend", async () => {
    const w = await walletWithCoin();
    await expectRefused(w, "amount-invalid", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0" }));
  });

  it("refuses a malformed amount", async () => {
    const w = await walletWithCoin();
    await expectRefused(w, "amount-invalid", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:1e-1" }));
  });

  it("refuses spending a coin of a suspended exchange", async () => {
    const w = await walletWithCoin();
    await w.setExchangeSuspended({ exchangeBaseUrl: EX, suspended: true });
    await expectRefused(w, "exchange-suspended", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.1" }));
    await w.setExchangeSuspended({ exchangeBaseUrl: EX, suspended: false });
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.1" });
  });

  it("records the same spend id with the same amount only once", async () => {
    const w = await walletWithCoin();
    const first = await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.3", spendId: "S1" });
    expect(first).toEqual({ spendId: "S1" });
    const before = await snapshot(w);
    // Same amount written differently is the same spend.
    expect(await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.30", spendId: "S1" })).toEqual({ spendId: "S1" });
    expect(await snapshot(w)).toEqual(before);
    expect((await w.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0.7");
  });

  it("refuses the same spend id with another amount", async () => {
    const w = await walletWithCoin();
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.3", spendId: "S1" });
    await expectRefused(w, "spend-duplicate", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.2", spendId: "S1" }));
  });

  it("generates distinct spend ids and lowers the balance by each spend", async () => {
    const w = await walletWithCoin("KUDOS:5");
    const a = await w.recordSpend({ coinPub: "C1", amount: "KUDOS:1" });
    const b = await w.recordSpend({ coinPub: "C1", amount: "KUDOS:1.5" });
    expect(a.spendId).not.toBe(b.spendId);
    const c = await w.getCoin({ coinPub: "C1" });
    expect(c.remaining).toBe("KUDOS:2.5");
    expect(c.spendIds).toEqual([a.spendId, b.spendId].sort());
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:2.5", pendingIncoming: "KUDOS:0" });
  });
});

describe("recordRefresh", () => {
  async function twoExchangeWallet(): Promise<Wallet> {
    const w = await withExchange(EX);
    await w.addExchange({ exchangeBaseUrl: EX2 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("A1", "KUDOS:5"), coin("A2", "KUDOS:2")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX2, coins: [coin("B1", "KUDOS:3")] });
    return w;
  }

  it("consumes the input amounts and creates the outputs", async () => {
    const w = await twoExchangeWallet();
    const { refreshGroupId } = await w.recordRefresh({
      inputs: [
        { coinPub: "A1", amount: "KUDOS:5" },
        { coinPub: "A2", amount: "KUDOS:1" },
      ],
      outputs: [coin("R1", "KUDOS:4"), coin("R2", "KUDOS:1.9")],
    });
    expect(await w.getCoin({ coinPub: "A1" })).toMatchObject({ remaining: "KUDOS:0", spendIds: [`refresh:${refreshGroupId}`] });
    expect(await w.getCoin({ coinPub: "A2" })).toMatchObject({ remaining: "KUDOS:1" });
    expect(await w.getCoin({ coinPub: "R1" })).toMatchObject({
      exchangeBaseUrl: EX,
      value: "KUDOS:4",
      remaining: "KUDOS:4",
      origin: { kind: "refresh", id: refreshGroupId },
    });
    // 10 before; 6 consumed, 5.9 created: the 0.1 difference is the refresh fee.
    expect((await balanceOf(w, "KUDOS")).available).toBe("KUDOS:9.9");
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 3, withdrawalGroups: 0 });
  });

  it("refuses outputs worth more than the inputs", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "refresh-unbalanced", () =>
      w.recordRefresh({ inputs: [{ coinPub: "A1", amount: "KUDOS:2" }], outputs: [coin("R1", "KUDOS:1"), coin("R2", "KUDOS:1.00000001")] }),
    );
  });

  it("refuses inputs from two exchanges", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "request-invalid", () =>
      w.recordRefresh({
        inputs: [
          { coinPub: "A1", amount: "KUDOS:1" },
          { coinPub: "B1", amount: "KUDOS:1" },
        ],
        outputs: [coin("R1", "KUDOS:1")],
      }),
    );
  });

  it("refuses an unknown input coin", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "coin-unknown", () => w.recordRefresh({ inputs: [{ coinPub: "NOPE", amount: "KUDOS:1" }], outputs: [] }));
  });

  it("refuses an input larger than what the coin has left", async () => {
    const w = await twoExchangeWallet();
    await w.recordSpend({ coinPub: "A2", amount: "KUDOS:1.5" });
    await expectRefused(w, "coin-overspent", () => w.recordRefresh({ inputs: [{ coinPub: "A2", amount: "KUDOS:1" }], outputs: [coin("R1", "KUDOS:0.5")] }));
  });

  it("refuses the same coin twice as input", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "request-invalid", () =>
      w.recordRefresh({
        inputs: [
          { coinPub: "A1", amount: "KUDOS:1" },
          { coinPub: "A1", amount: "KUDOS:1" },
        ],
        outputs: [],
      }),
    );
  });

  it("refuses an output that duplicates an existing coin", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "coin-duplicate", () => w.recordRefresh({ inputs: [{ coinPub: "A1", amount: "KUDOS:1" }], outputs: [coin("A2", "KUDOS:1")] }));
  });

  it("a retry is a no-op; the same id with an input or an output fewer is spend-duplicate, writing nothing", async () => {
    const w = await twoExchangeWallet();
    const inputs = [
      { coinPub: "A1", amount: "KUDOS:1" },
      { coinPub: "A2", amount: "KUDOS:1" },
    ];
    const outputs = [coin("R1", "KUDOS:1"), coin("R2", "KUDOS:0.9")];
    await w.recordRefresh({ refreshGroupId: "RG", inputs, outputs });
    expect(await w.recordRefresh({ refreshGroupId: "RG", inputs, outputs })).toEqual({ refreshGroupId: "RG" });
    await expectRefused(w, "spend-duplicate", () => w.recordRefresh({ refreshGroupId: "RG", inputs: inputs.slice(1), outputs }));
    await expectRefused(w, "spend-duplicate", () => w.recordRefresh({ refreshGroupId: "RG", inputs, outputs: outputs.slice(0, 1) }));
    // As many inputs as recorded, one coin twice: no retry, and refused as any request naming a coin twice.
    await expectRefused(w, "request-invalid", () => w.recordRefresh({ refreshGroupId: "RG", inputs: [inputs[0], inputs[0]], outputs }));
  });

  it("refuses a refresh without inputs", async () => {
    const w = await twoExchangeWallet();
    await expectRefused(w, "request-invalid", () => w.recordRefresh({ inputs: [], outputs: [coin("R1", "KUDOS:1")] }));
  });
});

describe("abortWithdrawal", () => {
  it("refuses an unknown group", async () => {
    const w = await withExchange();
    await expectRefused(w, "withdrawal-group-unknown", () => w.abortWithdrawal({ withdrawalGroupId: "NOPE" }));
  });

  it("drops the group's pending amount from pendingIncoming, keeping the withdrawn coins", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:10", coins: [coin("C1", "KUDOS:4")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G2", amount: "KUDOS:3", coins: [] });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:4", pendingIncoming: "KUDOS:9" });
    await w.abortWithdrawal({ withdrawalGroupId: "G1" });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:4", pendingIncoming: "KUDOS:3" });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 1 });
  });

  it("is a no-op the second time", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:10", coins: [] });
    await w.abortWithdrawal({ withdrawalGroupId: "G1" });
    const before = await snapshot(w);
    await w.abortWithdrawal({ withdrawalGroupId: "G1" });
    expect(await snapshot(w)).toEqual(before);
    expect(before.events.filter((e) => e.type === "withdrawal-group-aborted")).toHaveLength(1);
  });
});

describe("getExchangeResources and deleteExchange", () => {
  it("counts coins with value left and groups still pending", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", coins: [coin("C1", "KUDOS:1"), coin("C2", "KUDOS:2")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G2", amount: "KUDOS:5", coins: [coin("C3", "KUDOS:1")] });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 3, withdrawalGroups: 1 });
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:1" });
    await w.recordSpend({ coinPub: "C2", amount: "KUDOS:1" });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 2, withdrawalGroups: 1 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G2", coins: [coin("C4", "KUDOS:4")] });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 3, withdrawalGroups: 0 });
  });

  it("answers exchange-unknown for an exchange never added", async () => {
    const w = await tempWallet();
    await expectRefused(w, "exchange-unknown", () => w.getExchangeResources({ exchangeBaseUrl: EX }));
  });

  it("refuses to delete an exchange with resources unless purging", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await expectRefused(w, "exchange-has-resources", () => w.deleteExchange({ exchangeBaseUrl: EX }));
    await expectRefused(w, "exchange-has-resources", () => w.deleteExchange({ exchangeBaseUrl: EX, purge: false }));
  });

  it("refuses to delete an exchange with only a pending group unless purging", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:1", coins: [] });
    await expectRefused(w, "exchange-has-resources", () => w.deleteExchange({ exchangeBaseUrl: EX }));
  });

  it("deletes without purge once every coin is spent", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:1" });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: false, coins: 0, withdrawalGroups: 0 });
    await w.deleteExchange({ exchangeBaseUrl: EX });
    expect((await w.listExchanges()).exchanges).toEqual([]);
    // Only a purge removes coins: the spent coin stays on record as history.
    expect(await w.getCoin({ coinPub: "C1" })).toMatchObject({ remaining: "KUDOS:0", spendIds: [expect.any(String)] });
  });

  it("purges coins and groups: balances drop and the coins are gone", async () => {
    const w = await withExchange(EX);
    await w.addExchange({ exchangeBaseUrl: EX2 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:10", coins: [coin("C1", "KUDOS:3"), coin("C2", "KUDOS:2")] });
    await w.recordWithdrawal({ exchangeBaseUrl: EX2, coins: [coin("D1", "KUDOS:1.5")] });
    await w.recordSpend({ coinPub: "C1", amount: "KUDOS:1" });
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:5.5", pendingIncoming: "KUDOS:5" });

    await w.deleteExchange({ exchangeBaseUrl: EX, purge: true });

    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:1.5", pendingIncoming: "KUDOS:0" });
    for (const coinPub of ["C1", "C2"]) {
      await expectRefused(w, "coin-unknown", () => w.getCoin({ coinPub }));
      await expectRefused(w, "coin-unknown", () => w.recordSpend({ coinPub, amount: "KUDOS:0.1" }));
    }
    expect((await w.getCoin({ coinPub: "D1" })).remaining).toBe("KUDOS:1.5");
    await expectRefused(w, "exchange-unknown", () => w.getExchangeResources({ exchangeBaseUrl: EX }));
    expect((await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toEqual([EX2]);
  });

  it("after a purge, the exchange can be added again and withdrawn from afresh", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:9", coins: [coin("C1", "KUDOS:4")] });
    await w.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    await expectRefused(w, "exchange-unknown", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C2", "KUDOS:1")] }));

    await w.addExchange({ exchangeBaseUrl: EX });
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: EX })).exchangeEntryStatus).toBe("ephemeral");
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: false, coins: 0, withdrawalGroups: 0 });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:3", coins: [coin("C2", "KUDOS:2")] });

    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: EX })).exchangeEntryStatus).toBe("used");
    expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:2", pendingIncoming: "KUDOS:1" });
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 1 });
    await expectRefused(w, "coin-unknown", () => w.getCoin({ coinPub: "C1" }));
    await w.recordSpend({ coinPub: "C2", amount: "KUDOS:2" });
    expect((await balanceOf(w, "KUDOS")).available).toBe("KUDOS:0");
  });

  it("keeps a purged coin's public key taken: it cannot be recorded again", async () => {
    const w = await withExchange();
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:4")] });
    await w.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    await w.addExchange({ exchangeBaseUrl: EX });
    await expectRefused(w, "coin-duplicate", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:4")] }));
  });
});

describe("merging two devices: double spends and concurrent deletes", () => {
  async function sync(from: Wallet, to: Wallet) {
    return to.importEvents(await from.exportEvents({ since: await to.getVectorClock() }));
  }

  it("lists one conflict on both devices and counts the coin as zero", async () => {
    const a = await withExchange(EX, "devA");
    const b = await tempWallet("devB");
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1"), coin("C2", "KUDOS:2")] });
    await b.importEvents(await a.exportEvents());
    expect((await b.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:1");

    await a.recordSpend({ coinPub: "C1", amount: "KUDOS:0.8", spendId: "spend-on-a" });
    await b.recordSpend({ coinPub: "C1", amount: "KUDOS:0.7", spendId: "spend-on-b" });
    expect(await a.listConflicts()).toEqual({ conflicts: [] });
    expect(await b.listConflicts()).toEqual({ conflicts: [] });

    expect((await sync(a, b)).added).toBe(1);
    expect((await sync(b, a)).added).toBe(1);

    const expected = { conflicts: [{ kind: "double-spend", coinPub: "C1", spendIds: ["spend-on-a", "spend-on-b"] }] };
    expect(await a.listConflicts()).toEqual(expected);
    expect(await b.listConflicts()).toEqual(expected);
    for (const w of [a, b]) {
      expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:2", pendingIncoming: "KUDOS:0" });
      expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 0 });
      expect(await w.getCoin({ coinPub: "C1" })).toMatchObject({ remaining: "KUDOS:0", spendIds: ["spend-on-a", "spend-on-b"] });
      await expectRefused(w, "coin-overspent", () => w.recordSpend({ coinPub: "C1", amount: "KUDOS:0.00000001" }));
    }
    expect(await a.getBalances()).toEqual(await b.getBalances());
    expect(await sharedRecords(a)).toEqual(await sharedRecords(b));
  });

  it("lists no conflict when the concurrent spends fit in the coin", async () => {
    const a = await withExchange(EX, "devA");
    const b = await tempWallet("devB");
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await b.importEvents(await a.exportEvents());
    await a.recordSpend({ coinPub: "C1", amount: "KUDOS:0.5", spendId: "x" });
    await b.recordSpend({ coinPub: "C1", amount: "KUDOS:0.5", spendId: "y" });
    await sync(a, b);
    await sync(b, a);
    for (const w of [a, b]) {
      expect(await w.listConflicts()).toEqual({ conflicts: [] });
      expect((await w.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0");
    }
  });

  it("counts one spend id recorded on both devices once", async () => {
    const a = await withExchange(EX, "devA");
    const b = await tempWallet("devB");
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    await b.importEvents(await a.exportEvents());
    await a.recordSpend({ coinPub: "C1", amount: "KUDOS:0.8", spendId: "same" });
    await b.recordSpend({ coinPub: "C1", amount: "KUDOS:0.8", spendId: "same" });
    await sync(a, b);
    await sync(b, a);
    for (const w of [a, b]) {
      expect(await w.listConflicts()).toEqual({ conflicts: [] });
      expect((await w.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0.2");
    }
  });

  it("keeps a group withdrawn concurrently with a delete of its exchange, with the same record whichever arrived first", async () => {
    // Regression: the group used to join the delete's causal past only where the
    // delete arrived after the group, so the two replicas stored different records.
    const a = await withExchange(EX, "devA");
    const b = await withExchange(EX, "devB");
    await b.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "G1", amount: "KUDOS:5", coins: [coin("C1", "KUDOS:2")] });
    await a.deleteExchange({ exchangeBaseUrl: EX });
    await sync(a, b);
    await sync(b, a);
    for (const w of [a, b]) {
      expect(await balanceOf(w, "KUDOS")).toEqual({ currency: "KUDOS", available: "KUDOS:2", pendingIncoming: "KUDOS:3" });
      expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 1 });
    }
    expect(await sharedRecords(a)).toEqual(await sharedRecords(b));
  });

  it("does not resurrect a coin spent on one device when the other imports an older log", async () => {
    const a = await withExchange(EX, "devA");
    const b = await tempWallet("devB");
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("C1", "KUDOS:1")] });
    const old = await a.exportEvents();
    await b.importEvents(old);
    await b.recordSpend({ coinPub: "C1", amount: "KUDOS:1" });
    expect(await b.importEvents(old)).toEqual({ added: 0, known: old.length });
    expect((await b.getCoin({ coinPub: "C1" })).remaining).toBe("KUDOS:0");
    expect((await balanceOf(b, "KUDOS")).available).toBe("KUDOS:0");
  });
});

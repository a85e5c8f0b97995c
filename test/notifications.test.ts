// Notifications are said after the commit that changed what they report, and
// only then: never for a refused or rolled-back request. An import says the
// same as a local request with the same effect.
import { afterEach, describe, expect, it } from "vitest";
import type { WalletNotification } from "../src/engine/notifications.ts";
import type { Wallet } from "../src/wallet.ts";
import { startTestExchange } from "../src/testing/index.ts";
import { tempWallet } from "./support/temp-wallet.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const EX = "https://ex.example/";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function wallet(deviceId: string): Promise<{ w: Wallet; seen: WalletNotification[] }> {
  const t = await tempWallet({ deviceId, now: () => NOW });
  cleanups.push(t.cleanup);
  const seen: WalletNotification[] = [];
  t.wallet.addNotificationListener((n) => seen.push(n));
  return { w: t.wallet, seen };
}

const coin = (pub: string, value: string) => ({ coinPub: pub, denomPubHash: "d", value });

describe("what a committed request says", () => {
  it("adding an exchange is a transition from nothing to ephemeral / initial / pending", async () => {
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    expect(seen).toEqual([
      {
        type: "exchange-state-transition",
        exchangeBaseUrl: EX,
        newExchangeState: { exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "initial-update", tosStatus: "pending" },
      },
    ]);
  });

  it("a withdrawal moves the balance and makes the exchange used", async () => {
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    seen.length = 0;
    await w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:10", coins: [coin("c1", "KUDOS:4"), coin("c2", "KUDOS:1")] });
    expect(seen).toContainEqual({
      type: "balance-change",
      currency: "KUDOS",
      before: { available: "KUDOS:0", pendingIncoming: "KUDOS:0" },
      after: { available: "KUDOS:5", pendingIncoming: "KUDOS:5" },
    });
    expect(seen).toContainEqual({
      type: "exchange-state-transition",
      exchangeBaseUrl: EX,
      oldExchangeState: { exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "initial-update", tosStatus: "pending" },
      newExchangeState: { exchangeEntryStatus: "used", exchangeUpdateStatus: "initial-update", tosStatus: "pending" },
    });
    expect(seen).toHaveLength(2);
  });

  it("is delivered after the commit: the listener's own read sees the new state", async () => {
    const { w } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    const reads: Promise<unknown>[] = [];
    w.addNotificationListener((n) => {
      if (n.type === "balance-change") reads.push(w.getBalances());
    });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("c1", "KUDOS:3")] });
    expect(reads).toHaveLength(1);
    expect(await reads[0]).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:3", pendingIncoming: "KUDOS:0" }] });
  });

  it("a no-op request says nothing", async () => {
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    seen.length = 0;
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.setExchangeTosForgotten({ exchangeBaseUrl: EX });
    expect(seen).toEqual([]);
  });

  it("an update says initial-update while in flight, then ready", async () => {
    const ex = await startTestExchange({ now: () => NOW });
    cleanups.push(() => ex.close());
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    seen.length = 0;
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const states = seen.filter((n) => n.type === "exchange-state-transition").map((n) => n.type === "exchange-state-transition" && n.newExchangeState);
    expect(states[0]).toEqual({ exchangeEntryStatus: "preset", exchangeUpdateStatus: "initial-update", tosStatus: "pending" });
    expect(states.at(-1)).toEqual({ exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "ready", tosStatus: "proposed" });
  });

  it("deleting an exchange is a transition to nothing", async () => {
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    seen.length = 0;
    await w.deleteExchange({ exchangeBaseUrl: EX });
    expect(seen).toEqual([
      {
        type: "exchange-state-transition",
        exchangeBaseUrl: EX,
        oldExchangeState: { exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "initial-update", tosStatus: "pending" },
      },
    ]);
  });
});

describe("what a refused or rolled-back request says: nothing", () => {
  it("a refused spend says nothing", async () => {
    const { w, seen } = await wallet("a");
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("c1", "KUDOS:1")] });
    seen.length = 0;
    await expect(w.recordSpend({ coinPub: "c1", amount: "KUDOS:2" })).rejects.toMatchObject({ code: "coin-overspent" });
    await expect(w.deleteExchange({ exchangeBaseUrl: EX })).rejects.toMatchObject({ code: "exchange-has-resources" });
    expect(seen).toEqual([]);
  });

  it("an import rolled back by its last bad event says nothing, though its first events were applied inside the transaction", async () => {
    const src = await wallet("src");
    await src.w.addExchange({ exchangeBaseUrl: EX });
    await src.w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("c1", "KUDOS:1")] });
    const log = await src.w.exportEvents();
    const { w, seen } = await wallet("dst");
    const bad = { ...log[1], data: { ...(log[1].data as object), extra: 1 } };
    await expect(w.importEvents([log[0], bad])).rejects.toMatchObject({ code: "event-invalid" });
    expect(seen).toEqual([]);
    const chainBroken = { ...log[1], prev: "0".repeat(103) };
    await expect(w.importEvents([log[0], chainBroken])).rejects.toMatchObject({ code: "import-broken-chain" });
    expect(seen).toEqual([]);
  });
});

describe("an import says what a local request with the same effect says", () => {
  it("the balance and exchange transitions of a merged withdrawal match the author's", async () => {
    const a = await wallet("a");
    const b = await wallet("b");
    await a.w.addExchange({ exchangeBaseUrl: EX });
    await b.w.importEvents(await a.w.exportEvents());
    a.seen.length = 0;
    b.seen.length = 0;
    await a.w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "KUDOS:3", coins: [coin("c1", "KUDOS:2")] });
    const result = await b.w.importEvents(await a.w.exportEvents({ since: await b.w.getVectorClock() }));
    expect(result).toEqual({ added: 1, known: 0 });
    const { seen: fromImport } = b;
    expect(fromImport.filter((n) => n.type !== "events-imported")).toEqual(a.seen);
    expect(fromImport.at(-1)).toEqual({ type: "events-imported", added: 1, known: 0 });
  });

  it("an import of nothing new says nothing", async () => {
    const a = await wallet("a");
    const b = await wallet("b");
    await a.w.addExchange({ exchangeBaseUrl: EX });
    await b.w.importEvents(await a.w.exportEvents());
    b.seen.length = 0;
    expect(await b.w.importEvents(await a.w.exportEvents())).toEqual({ added: 0, known: 1 });
    expect(b.seen).toEqual([]);
  });
});

describe("listeners", () => {
  it("a listener that throws breaks nothing: the request succeeds and the other listeners still hear", async () => {
    const { w, seen } = await wallet("a");
    w.addNotificationListener(() => {
      throw new Error("host bug");
    });
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [coin("c1", "KUDOS:1")] });
    expect(seen.length).toBeGreaterThan(0);
    expect(await w.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:1", pendingIncoming: "KUDOS:0" }] });
  });

  it("unsubscribing stops delivery; a non-function listener is request-invalid", async () => {
    const t = await tempWallet({ now: () => NOW });
    cleanups.push(t.cleanup);
    const seen: WalletNotification[] = [];
    const off = t.wallet.addNotificationListener((n) => seen.push(n));
    off();
    await t.wallet.addExchange({ exchangeBaseUrl: EX });
    expect(seen).toEqual([]);
    expect(() => t.wallet.addNotificationListener(5 as never)).toThrow(expect.objectContaining({ code: "request-invalid" }));
  });
});

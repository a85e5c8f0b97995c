// runPendingUpdates: which exchanges the wallet contacts on its own, how it
// backs off after failures, and which ephemeral entries it collects. The
// wallet clock is injected and runPendingUpdates gets the same `now`, so every
// recorded attempt time is the instant the test chose.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet, WalletError, type OpenWalletOptions, type Wallet } from "../src/index.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const SCHEDULE = { refreshIntervalMs: 60_000, retryBaseMs: 1_000, maxRetryDelayMs: 8_000 };
const GC_AFTER = 10_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  w: Wallet;
  clock: { t: number };
  /** Sets the wallet clock to `t` and runs the scheduler at that instant. */
  runAt(t: number): ReturnType<Wallet["runPendingUpdates"]>;
}

async function tempWallet(opts: Partial<OpenWalletOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "dd48-scheduler-"));
  const clock = { t: NOW };
  const w = await openWallet({ path: dir, now: () => clock.t, schedule: SCHEDULE, ephemeralGcAfterMs: GC_AFTER, httpTimeoutMs: 300, ...opts });
  cleanups.push(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    w,
    clock,
    runAt(t) {
      clock.t = t;
      return w.runPendingUpdates({ now: t });
    },
  };
}

async function testExchange(currency = "KUDOS"): Promise<TestExchange> {
  const ex = await startTestExchange({ now: () => NOW, currency });
  cleanups.push(() => ex.close());
  return ex;
}

let coinCounter = 0;
const coin = (currency: string) => [{ coinPub: `SCHED-COIN-${++coinCounter}`, denomPubHash: "DENOM-1", value: `${currency}:1` }];
const keysRequests = (ex: TestExchange) => ex.requests.filter((r) => r.path === "/keys").length;

/** An exchange updated at the current wallet time and used by a withdrawal. */
async function usedExchange(h: Harness, ex: TestExchange): Promise<void> {
  await h.w.addExchange({ exchangeBaseUrl: ex.baseUrl });
  await h.w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
  await h.w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: coin(ex.currency) });
}

describe("which exchanges runPendingUpdates contacts", () => {
  it("contacts a used exchange once its /keys is older than refreshIntervalMs, not before", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    const seen = keysRequests(ex);
    let report = await h.runAt(NOW + SCHEDULE.refreshIntervalMs - 1);
    expect(report.updated).toEqual([]);
    expect(keysRequests(ex)).toBe(seen);

    report = await h.runAt(NOW + SCHEDULE.refreshIntervalMs);
    expect(report.updated.map((e) => [e.exchangeBaseUrl, e.exchangeUpdateStatus])).toEqual([[ex.baseUrl, "ready"]]);
    expect(keysRequests(ex)).toBe(seen + 1);

    // Fresh again: the next refresh is one interval after this success.
    await h.runAt(NOW + 2 * SCHEDULE.refreshIntervalMs - 1);
    expect(keysRequests(ex)).toBe(seen + 1);
    await h.runAt(NOW + 2 * SCHEDULE.refreshIntervalMs);
    expect(keysRequests(ex)).toBe(seen + 2);
  });

  it("contacts a used exchange that was never updated right away", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await h.w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    await h.w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: coin("KUDOS") });
    const report = await h.runAt(NOW);
    expect(report.updated).toHaveLength(1);
    expect(report.updated[0]).toMatchObject({ exchangeEntryStatus: "used", exchangeUpdateStatus: "ready", currency: "KUDOS" });
    expect(ex.requests.map((r) => r.path)).toEqual(["/keys", "/terms"]);
  });

  it("uses the wallet clock when no now is given", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    const seen = keysRequests(ex);
    h.clock.t = NOW + SCHEDULE.refreshIntervalMs;
    expect((await h.w.runPendingUpdates()).updated).toHaveLength(1);
    expect(keysRequests(ex)).toBe(seen + 1);
  });

  it("never contacts presets, ephemeral or suspended exchanges, however stale", async () => {
    const used = await testExchange("KUDOS");
    const preset = await testExchange("PRESET");
    const ephemeral = await testExchange("EPH");
    const suspended = await testExchange("SUSP");
    // Ephemeral entries would be collected at GC_AFTER; keep them to see that they are not contacted.
    const h = await tempWallet({ ephemeralGcAfterMs: 365 * 86_400_000 });
    await usedExchange(h, used);
    await h.w.addExchange({ exchangeBaseUrl: preset.baseUrl, preset: true });
    await h.w.addExchange({ exchangeBaseUrl: ephemeral.baseUrl });
    await h.w.updateExchange({ exchangeBaseUrl: ephemeral.baseUrl });
    await usedExchange(h, suspended);
    await h.w.setExchangeSuspended({ exchangeBaseUrl: suspended.baseUrl, suspended: true });
    const before = [preset, ephemeral, suspended].map((ex) => ex.requests.length);

    for (const t of [NOW + SCHEDULE.refreshIntervalMs, NOW + 10 * SCHEDULE.refreshIntervalMs, NOW + 100 * SCHEDULE.refreshIntervalMs]) {
      const report = await h.runAt(t);
      expect(report.updated.map((e) => e.exchangeBaseUrl)).toEqual([used.baseUrl]);
      expect(report.collected).toEqual([]);
    }
    expect([preset, ephemeral, suspended].map((ex) => ex.requests.length)).toEqual(before);
    expect(keysRequests(used)).toBe(4);
    const statuses = Object.fromEntries((await h.w.listExchanges()).exchanges.map((e) => [e.currency ?? "preset", e.exchangeEntryStatus]));
    expect(statuses).toEqual({ KUDOS: "used", preset: "preset", EPH: "ephemeral", SUSP: "used" });
  });

  it("contacts a suspended used exchange again once it is unsuspended", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    await h.w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    const seen = keysRequests(ex);
    await h.runAt(NOW + SCHEDULE.refreshIntervalMs);
    expect(keysRequests(ex)).toBe(seen);
    await h.w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: false });
    const report = await h.runAt(NOW + SCHEDULE.refreshIntervalMs);
    expect(report.updated.map((e) => e.exchangeUpdateStatus)).toEqual(["ready"]);
    expect(keysRequests(ex)).toBe(seen + 1);
  });
});

describe("retry with exponential backoff", () => {
  it("retries a failing exchange after retryBaseMs, doubling up to maxRetryDelayMs, and never gives up", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    ex.setFault({ kind: "http-500" });
    let t = NOW + SCHEDULE.refreshIntervalMs;
    let report = await h.runAt(t);
    expect(report.updated[0]).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-http-error" } });
    let count = keysRequests(ex);

    const expectedDelays = [1_000, 2_000, 4_000, 8_000, 8_000, 8_000];
    for (const delay of expectedDelays) {
      report = await h.runAt(t + delay - 1);
      expect(report.updated, `not yet due ${delay - 1} ms after the last attempt`).toEqual([]);
      expect(keysRequests(ex)).toBe(count);
      t += delay;
      report = await h.runAt(t);
      expect(report.updated.map((e) => e.exchangeUpdateStatus), `due ${delay} ms after the last attempt`).toEqual(["unavailable-update"]);
      expect(keysRequests(ex)).toBe(count + 1);
      count += 1;
    }

    // Recovery resets the backoff: the next contact is a regular refresh.
    ex.setFault(undefined);
    t += SCHEDULE.maxRetryDelayMs;
    report = await h.runAt(t);
    expect(report.updated.map((e) => e.exchangeUpdateStatus)).toEqual(["ready"]);
    count += 1;
    await h.runAt(t + SCHEDULE.retryBaseMs);
    await h.runAt(t + SCHEDULE.refreshIntervalMs - 1);
    expect(keysRequests(ex)).toBe(count);
    await h.runAt(t + SCHEDULE.refreshIntervalMs);
    expect(keysRequests(ex)).toBe(count + 1);
  });

  it("also retries with backoff while the exchange advertises a changed master key", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    const oldPub = ex.masterPub();
    ex.rotateMasterKey();
    let t = NOW + SCHEDULE.refreshIntervalMs;
    await h.runAt(t);
    let count = keysRequests(ex);
    for (const delay of [1_000, 2_000, 4_000]) {
      await h.runAt(t + delay - 1);
      expect(keysRequests(ex)).toBe(count);
      t += delay;
      const report = await h.runAt(t);
      expect(report.updated[0]).toMatchObject({
        exchangeUpdateStatus: "unavailable-update",
        masterPub: oldPub,
        lastUpdateErrorInfo: { code: "exchange-master-pub-changed" },
      });
      count += 1;
      expect(keysRequests(ex)).toBe(count);
    }
  });

  it("a timed-out attempt counts as a failure and is retried after retryBaseMs", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await usedExchange(h, ex);
    ex.setFault({ kind: "hang", path: "keys" });
    const t = NOW + SCHEDULE.refreshIntervalMs;
    const report = await h.runAt(t);
    expect(report.updated[0].lastUpdateErrorInfo?.code).toBe("exchange-timeout");
    ex.setFault(undefined);
    const count = keysRequests(ex);
    await h.runAt(t + SCHEDULE.retryBaseMs - 1);
    expect(keysRequests(ex)).toBe(count);
    expect((await h.runAt(t + SCHEDULE.retryBaseMs)).updated.map((e) => e.exchangeUpdateStatus)).toEqual(["ready"]);
  });
});

describe("garbage collection of ephemeral entries", () => {
  it("collects an ephemeral entry unused for ephemeralGcAfterMs, and it is gone", async () => {
    const h = await tempWallet();
    await h.w.addExchange({ exchangeBaseUrl: "https://stale.example/" });
    let report = await h.runAt(NOW + GC_AFTER - 1);
    expect(report.collected).toEqual([]);
    expect((await h.w.listExchanges()).exchanges).toHaveLength(1);

    report = await h.runAt(NOW + GC_AFTER);
    expect(report).toEqual({ updated: [], collected: ["https://stale.example/"] });
    expect((await h.w.listExchanges()).exchanges).toEqual([]);
    await expect(h.w.getExchangeEntryByUrl({ exchangeBaseUrl: "https://stale.example/" })).rejects.toBeInstanceOf(WalletError);
    expect((await h.w.exportEvents()).map((e) => e.type)).toEqual(["exchange-added", "exchange-deleted"]);
    // Nothing left to collect.
    expect((await h.runAt(NOW + 2 * GC_AFTER)).collected).toEqual([]);
  });

  it("an update counts as activity and postpones collection", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await h.w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    h.clock.t = NOW + GC_AFTER / 2;
    await h.w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await h.runAt(NOW + GC_AFTER)).collected).toEqual([]);
    expect((await h.runAt(NOW + GC_AFTER / 2 + GC_AFTER - 1)).collected).toEqual([]);
    expect((await h.runAt(NOW + GC_AFTER / 2 + GC_AFTER)).collected).toEqual([ex.baseUrl]);
    // Collection does not contact the exchange.
    expect(keysRequests(ex)).toBe(1);
  });

  it("never collects presets, used exchanges (which hold resources) or suspended ephemeral entries", async () => {
    const used = await testExchange();
    const h = await tempWallet();
    await h.w.addExchange({ exchangeBaseUrl: "https://preset.example/", preset: true });
    await h.w.addExchange({ exchangeBaseUrl: "https://suspended.example/" });
    await h.w.setExchangeSuspended({ exchangeBaseUrl: "https://suspended.example/", suspended: true });
    await h.w.addExchange({ exchangeBaseUrl: "https://collectable.example/" });
    await usedExchange(h, used);
    expect((await h.w.getExchangeResources({ exchangeBaseUrl: used.baseUrl })).hasResources).toBe(true);

    const report = await h.runAt(NOW + 1000 * GC_AFTER);
    expect(report.collected).toEqual(["https://collectable.example/"]);
    expect((await h.w.listExchanges()).exchanges.map((e) => [e.exchangeBaseUrl, e.exchangeEntryStatus])).toEqual([
      [used.baseUrl, "used"],
      ["https://preset.example/", "preset"],
      ["https://suspended.example/", "ephemeral"],
    ]);
  });

  it("a collected exchange can be added again as a fresh ephemeral entry", async () => {
    const ex = await testExchange();
    const h = await tempWallet();
    await h.w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await h.w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await h.w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v1" });
    expect((await h.runAt(NOW + GC_AFTER)).collected).toEqual([ex.baseUrl]);
    await h.w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(await h.w.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl })).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      exchangeEntryStatus: "ephemeral",
      exchangeUpdateStatus: "initial-update",
      tosStatus: "pending",
    });
  });
});

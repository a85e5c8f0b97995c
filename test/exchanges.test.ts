// DD 48 exchange lifecycle, end to end: the public wallet API against a real
// test exchange over loopback HTTP, on a real LMDB wallet in a temp dir. The
// wallet clock is injected so that denomination expiry is under test control.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  openWallet,
  WalletError,
  type ExchangeListItem,
  type OpenWalletOptions,
  type Wallet,
} from "../src/index.ts";
import { startTestExchange, type ExchangeFault, type TestExchange } from "../src/testing/index.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const DAY_MS = 86_400_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh wallet in its own temp dir, with a settable clock; removed after the test. */
async function tempWallet(opts: Partial<OpenWalletOptions> = {}): Promise<{ w: Wallet; clock: { t: number } }> {
  const dir = mkdtempSync(join(tmpdir(), "dd48-exchanges-"));
  const clock = { t: NOW };
  const w = await openWallet({ path: dir, now: () => clock.t, ...opts });
  cleanups.push(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { w, clock };
}

async function testExchange(opts: { currency?: string; now?: () => number } = {}): Promise<TestExchange> {
  const ex = await startTestExchange({ now: () => NOW, ...opts });
  cleanups.push(() => ex.close());
  return ex;
}

async function expectWalletError(p: Promise<unknown>, code: string): Promise<WalletError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected WalletError ${code}`).toBeInstanceOf(WalletError);
  expect((caught as WalletError).code).toBe(code);
  return caught as WalletError;
}

let coinCounter = 0;
function coins(currency: string, n = 1) {
  return Array.from({ length: n }, () => ({ coinPub: `COIN-${++coinCounter}`, denomPubHash: "DENOM-1", value: `${currency}:1` }));
}

const entry = (w: Wallet, url: string) => w.getExchangeEntryByUrl({ exchangeBaseUrl: url });
const keysRequests = (ex: TestExchange) => ex.requests.filter((r) => r.path === "/keys").length;

async function eventCount(w: Wallet): Promise<number> {
  return (await w.exportEvents()).length;
}

/** Waits until the exchange has received `n` requests (an update is then surely in flight). */
async function untilRequests(ex: TestExchange, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (ex.requests.length < n) {
    if (Date.now() > deadline) throw new Error(`exchange saw ${ex.requests.length} requests, expected ${n}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A used, ready exchange whose current ToS the user accepted. */
async function usedReadyAccepted(w: Wallet, ex: TestExchange): Promise<ExchangeListItem> {
  await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
  await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
  await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v1" });
  await w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: coins(ex.currency, 2) });
  const item = await entry(w, ex.baseUrl);
  expect(item).toMatchObject({ exchangeEntryStatus: "used", exchangeUpdateStatus: "ready", tosStatus: "accepted" });
  return item;
}

describe("entry status (preset → ephemeral → used)", () => {
  it("addExchange creates an ephemeral entry awaiting its first update, ToS pending, without contacting the exchange", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await entry(w, ex.baseUrl);
    expect(item).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      exchangeEntryStatus: "ephemeral",
      exchangeUpdateStatus: "initial-update",
      tosStatus: "pending",
    });
    expect(ex.requests).toHaveLength(0);
  });

  it("addExchange with preset creates a preset entry that needs no update", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    expect(await entry(w, ex.baseUrl)).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      exchangeEntryStatus: "preset",
      exchangeUpdateStatus: "initial",
      tosStatus: "pending",
    });
    expect(ex.requests).toHaveLength(0);
  });

  it("adding an existing exchange again writes no event", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const n = await eventCount(w);
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    expect(await eventCount(w)).toBe(n);
    expect((await entry(w, ex.baseUrl)).exchangeEntryStatus).toBe("ephemeral");

    await w.addExchange({ exchangeBaseUrl: "https://preset.example/", preset: true });
    const m = await eventCount(w);
    await w.addExchange({ exchangeBaseUrl: "https://preset.example/", preset: true });
    expect(await eventCount(w)).toBe(m);
  });

  it("a user's add lifts a preset to ephemeral", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    const n = await eventCount(w);
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(await eventCount(w)).toBe(n + 1);
    expect((await entry(w, ex.baseUrl)).exchangeEntryStatus).toBe("ephemeral");
  });

  it("updating a preset makes it ephemeral and ready", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toMatchObject({ exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "ready", currency: "KUDOS", masterPub: ex.masterPub() });
    expect(await entry(w, ex.baseUrl)).toEqual(item);
  });

  it("a failed update of a preset still makes it ephemeral (an update was attempted)", async () => {
    const ex = await testExchange();
    ex.setFault({ kind: "http-500" });
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toMatchObject({ exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "initial-update" });
  });

  it("recording a withdrawal makes the exchange used", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    await w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: coins("KUDOS") });
    expect((await entry(w, ex.baseUrl)).exchangeEntryStatus).toBe("used");
    expect((await w.listExchanges({ filterByExchangeEntryStatus: "used" })).exchanges.map((e) => e.exchangeBaseUrl)).toEqual([ex.baseUrl]);
    expect((await w.listExchanges({ filterByExchangeEntryStatus: "ephemeral" })).exchanges).toEqual([]);
  });

  it("used never goes back to ephemeral, whatever is asked of the exchange afterwards", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet({ httpTimeoutMs: 300 });
    await usedReadyAccepted(w, ex);
    const url = ex.baseUrl;
    const steps: [string, () => Promise<unknown>][] = [
      ["add", () => w.addExchange({ exchangeBaseUrl: url })],
      ["add preset", () => w.addExchange({ exchangeBaseUrl: url, preset: true })],
      ["update", () => w.updateExchange({ exchangeBaseUrl: url })],
      ["forced update", () => w.updateExchange({ exchangeBaseUrl: url, force: true })],
      ["getExchangeTos", () => w.getExchangeTos({ exchangeBaseUrl: url })],
      ["forget ToS", () => w.setExchangeTosForgotten({ exchangeBaseUrl: url })],
      ["accept other ToS", () => w.setExchangeTosAccepted({ exchangeBaseUrl: url, etag: "other" })],
      ["new ToS + update", async () => {
        ex.setTos({ version: "v2", languages: { en: { "text/plain": "v2" } } });
        await w.updateExchange({ exchangeBaseUrl: url });
      }],
      ["failed update", async () => {
        ex.setFault({ kind: "http-500" });
        await w.updateExchange({ exchangeBaseUrl: url });
        ex.setFault(undefined);
      }],
      ["suspend", () => w.setExchangeSuspended({ exchangeBaseUrl: url, suspended: true })],
      ["unsuspend", () => w.setExchangeSuspended({ exchangeBaseUrl: url, suspended: false })],
      ["runPendingUpdates", () => w.runPendingUpdates()],
    ];
    for (const [name, step] of steps) {
      await step();
      expect((await entry(w, url)).exchangeEntryStatus, `after ${name}`).toBe("used");
    }
  });

  it("deleting an ephemeral exchange removes it from listExchanges", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.addExchange({ exchangeBaseUrl: "https://other.example/" });
    await w.deleteExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toEqual(["https://other.example/"]);
    await expectWalletError(entry(w, ex.baseUrl), "exchange-unknown");
  });

  it("every request about an unknown or deleted exchange is refused with exchange-unknown", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.deleteExchange({ exchangeBaseUrl: ex.baseUrl });
    for (const url of [ex.baseUrl, "https://never-added.example/"]) {
      await expectWalletError(entry(w, url), "exchange-unknown");
      await expectWalletError(w.updateExchange({ exchangeBaseUrl: url }), "exchange-unknown");
      await expectWalletError(w.getExchangeResources({ exchangeBaseUrl: url }), "exchange-unknown");
      await expectWalletError(w.deleteExchange({ exchangeBaseUrl: url }), "exchange-unknown");
      await expectWalletError(w.getExchangeTos({ exchangeBaseUrl: url }), "exchange-unknown");
      await expectWalletError(w.setExchangeTosAccepted({ exchangeBaseUrl: url, etag: "v1" }), "exchange-unknown");
      await expectWalletError(w.setExchangeTosForgotten({ exchangeBaseUrl: url }), "exchange-unknown");
      await expectWalletError(w.setExchangeSuspended({ exchangeBaseUrl: url, suspended: true }), "exchange-unknown");
      await expectWalletError(w.recordWithdrawal({ exchangeBaseUrl: url, coins: coins("KUDOS") }), "exchange-unknown");
    }
    expect(ex.requests).toHaveLength(0);
  });
});

describe("update status", () => {
  it("is ready after a successful update, with currency and master key from /keys", async () => {
    const ex = await testExchange({ currency: "TESTKUDOS" });
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      currency: "TESTKUDOS",
      masterPub: ex.masterPub(),
      exchangeEntryStatus: "ephemeral",
      exchangeUpdateStatus: "ready",
      tosStatus: "proposed",
    });
    expect(ex.requests.map((r) => r.path)).toEqual(["/keys", "/terms"]);
  });

  it("is ready-update while an update of a ready exchange is in flight", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet({ httpTimeoutMs: 400 });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setFault({ kind: "hang", path: "keys" });
    const seen = ex.requests.length;
    const pending = w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await untilRequests(ex, seen + 1);
    const during = (await w.listExchanges()).exchanges;
    expect(during).toHaveLength(1);
    expect(during[0]).toMatchObject({ exchangeUpdateStatus: "ready-update", currency: "KUDOS" });
    expect(during[0].lastUpdateErrorInfo).toBeUndefined();
    const after = await pending;
    expect(after).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-timeout" } });
    ex.setFault(undefined);
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toMatchObject({ exchangeUpdateStatus: "ready" });
  });

  it("is initial-update while the first update of a preset is in flight", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet({ httpTimeoutMs: 300 });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    ex.setFault({ kind: "hang" });
    const pending = w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await untilRequests(ex, 1);
    expect((await entry(w, ex.baseUrl)).exchangeUpdateStatus).toBe("initial-update");
    expect(await pending).toMatchObject({ exchangeUpdateStatus: "initial-update", lastUpdateErrorInfo: { code: "exchange-timeout" } });
  });

  it("is suspended after setExchangeSuspended(true); updates are refused and the exchange is not contacted", async () => {
    const ex = await testExchange();
    const { w, clock } = await tempWallet();
    await usedReadyAccepted(w, ex);
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    const item = await entry(w, ex.baseUrl);
    expect(item).toMatchObject({ exchangeEntryStatus: "used", exchangeUpdateStatus: "suspended", tosStatus: "accepted" });
    const seen = ex.requests.length;
    await expectWalletError(w.updateExchange({ exchangeBaseUrl: ex.baseUrl }), "exchange-suspended");
    await expectWalletError(w.updateExchange({ exchangeBaseUrl: ex.baseUrl, force: true }), "exchange-suspended");
    await expectWalletError(w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl }), "exchange-suspended");
    // Far past any refresh interval: a used, unsuspended exchange would be due.
    clock.t += 10 * DAY_MS;
    const report = await w.runPendingUpdates({ now: clock.t });
    expect(report.updated).toEqual([]);
    expect(ex.requests).toHaveLength(seen);
    // A suspended exchange cannot take new withdrawals either.
    await expectWalletError(w.recordWithdrawal({ exchangeBaseUrl: ex.baseUrl, coins: coins("KUDOS") }), "exchange-suspended");
  });

  it("unsuspending returns to the status derived from the recorded facts", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: false });
    expect((await entry(w, ex.baseUrl)).exchangeUpdateStatus).toBe("ready");

    ex.setVersion("30:0:0");
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    expect((await entry(w, ex.baseUrl)).lastUpdateErrorInfo).toBeUndefined();
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: false });
    expect(await entry(w, ex.baseUrl)).toMatchObject({
      exchangeUpdateStatus: "unavailable-update",
      lastUpdateErrorInfo: { code: "exchange-version-incompatible" },
    });
  });

  it("suspending twice, or unsuspending an unsuspended exchange, writes no event", async () => {
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: "https://x.example/" });
    const n = await eventCount(w);
    await w.setExchangeSuspended({ exchangeBaseUrl: "https://x.example/", suspended: false });
    expect(await eventCount(w)).toBe(n);
    await w.setExchangeSuspended({ exchangeBaseUrl: "https://x.example/", suspended: true });
    await w.setExchangeSuspended({ exchangeBaseUrl: "https://x.example/", suspended: true });
    expect(await eventCount(w)).toBe(n + 1);
  });

  it("is unavailable-update when the exchange moves to an incompatible protocol version, and ready again after it moves back", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const ready = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setVersion("30:0:0");
    const bad = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(bad).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-version-incompatible" } });
    // Retrying against the same incompatible exchange must not flip back to ready.
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toMatchObject({ exchangeUpdateStatus: "unavailable-update" });
    ex.setVersion("23:0:6");
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toEqual(ready);
  });

  it("is unavailable-update when the exchange advertises a new master key, keeping the recorded one", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const ready = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const oldPub = ex.masterPub();
    ex.rotateMasterKey();
    expect(ex.masterPub()).not.toBe(oldPub);
    const bad = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(bad).toMatchObject({
      exchangeUpdateStatus: "unavailable-update",
      masterPub: oldPub,
      lastUpdateErrorInfo: { code: "exchange-master-pub-changed" },
    });
    ex.reset();
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toEqual(ready);
  });

  // Regression: the rejected /keys answer's ETag used to be remembered, so the
  // retry got a 304 and re-adopted the old keys as "ready" while the exchange
  // still advertised the new master key.
  it("a rejected master key change stays unavailable across retries (no 304 re-adoption)", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const oldPub = ex.masterPub();
    ex.rotateMasterKey();
    for (let i = 0; i < 3; i++) {
      const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
      expect(item, `retry ${i}`).toMatchObject({
        exchangeUpdateStatus: "unavailable-update",
        masterPub: oldPub,
        lastUpdateErrorInfo: { code: "exchange-master-pub-changed" },
      });
    }
  });

  it("is unavailable-update when the exchange offers only expired denominations, and ready when it offers fresh ones again", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const ready = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setDenominationsExpired(true);
    const bad = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(bad).toMatchObject({
      exchangeUpdateStatus: "unavailable-update",
      masterPub: ready.masterPub,
      lastUpdateErrorInfo: { code: "exchange-denominations-expired" },
    });
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toMatchObject({ exchangeUpdateStatus: "unavailable-update" });
    ex.setDenominationsExpired(false);
    expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toEqual(ready);
  });

  it("turns unavailable-update as soon as the wallet clock passes every stamp_expire_withdraw, without contacting the exchange", async () => {
    const serverClock = { t: NOW };
    const ex = await testExchange({ now: () => serverClock.t });
    const { w, clock } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const seen = ex.requests.length;
    // The test exchange's denominations can be withdrawn for 30 days.
    clock.t = NOW + 30 * DAY_MS - 1000;
    expect((await entry(w, ex.baseUrl)).exchangeUpdateStatus).toBe("ready");
    clock.t = NOW + 30 * DAY_MS;
    expect(await entry(w, ex.baseUrl)).toMatchObject({
      exchangeUpdateStatus: "unavailable-update",
      lastUpdateErrorInfo: { code: "exchange-denominations-expired" },
    });
    expect(ex.requests).toHaveLength(seen);
    // The exchange publishes fresh denominations; the next update recovers.
    serverClock.t = clock.t;
    ex.setDenominationsExpired(false);
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item.exchangeUpdateStatus).toBe("ready");
    expect(item.lastUpdateErrorInfo).toBeUndefined();
  });

  describe("a failing first update leaves initial-update with the error", () => {
    const cases: { name: string; fault?: ExchangeFault; code: string; closed?: boolean }[] = [
      { name: "HTTP 500", fault: { kind: "http-500" }, code: "exchange-http-error" },
      { name: "malformed JSON", fault: { kind: "malformed-json" }, code: "exchange-malformed-response" },
      { name: "a missing required field", fault: { kind: "missing-field", field: "master_public_key" }, code: "exchange-keys-invalid" },
      { name: "no answer", fault: { kind: "hang" }, code: "exchange-timeout" },
      { name: "a reset connection", fault: { kind: "reset" }, code: "exchange-network-error" },
      { name: "a closed server", closed: true, code: "exchange-network-error" },
    ];
    for (const c of cases) {
      it(`${c.name} → ${c.code}`, async () => {
        const ex = await testExchange();
        if (c.fault) ex.setFault(c.fault);
        if (c.closed) await ex.close();
        const { w } = await tempWallet({ httpTimeoutMs: 300 });
        await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
        const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
        expect(item.exchangeUpdateStatus).toBe("initial-update");
        expect(item.exchangeEntryStatus).toBe("ephemeral");
        expect(item.tosStatus).toBe("pending");
        expect(item.currency).toBeUndefined();
        expect(item.lastUpdateErrorInfo?.code).toBe(c.code);
        expect(item.lastUpdateErrorInfo?.message).toEqual(expect.any(String));
        expect(await entry(w, ex.baseUrl)).toEqual(item);
        if (!c.closed) {
          ex.setFault(undefined);
          const ok = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
          expect(ok.exchangeUpdateStatus).toBe("ready");
          expect(ok.lastUpdateErrorInfo).toBeUndefined();
        }
      });
    }
  });
});

describe("ToS status", () => {
  it("is pending until terms are fetched, also when only /terms fails", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("pending");
    ex.setFault({ kind: "http-500", path: "terms" });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    // DD 48: a pending ToS reflects why its download failed.
    expect(item).toMatchObject({
      exchangeUpdateStatus: "ready",
      tosStatus: "pending",
      lastUpdateErrorInfo: { code: "exchange-http-error" },
    });
    ex.setFault(undefined);
    const recovered = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(recovered.tosStatus).toBe("proposed");
    expect(recovered.lastUpdateErrorInfo).toBeUndefined();
  });

  it("an ETag too long to record is the terms' fault: /keys is still taken, the ToS stays pending", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setTos({ version: "v".repeat(600), languages: { en: { "text/plain": "long-tagged terms" } } });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toMatchObject({
      exchangeUpdateStatus: "ready",
      tosStatus: "pending",
      lastUpdateErrorInfo: { code: "exchange-terms-invalid" },
    });
    await expect(w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl })).rejects.toMatchObject({ code: "exchange-terms-invalid" });
  });

  it("is proposed after getExchangeTos alone, without any /keys", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    expect(tos).toMatchObject({ currentEtag: "v1", tosStatus: "proposed" });
    expect(tos.acceptedEtag).toBeUndefined();
    expect(await entry(w, ex.baseUrl)).toMatchObject({ tosStatus: "proposed", exchangeUpdateStatus: "initial-update" });
    expect(ex.requests.map((r) => r.path)).toEqual(["/terms"]);
  });

  it("is accepted after accepting the current etag, proposed again when the exchange publishes new terms", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const { currentEtag } = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: currentEtag });
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("accepted");
    expect(await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl })).toMatchObject({ tosStatus: "accepted", currentEtag: "v1", acceptedEtag: "v1" });

    ex.setTos({ version: "v2", languages: { en: { "text/plain": "Terms v2" } } });
    // Until the wallet asks again it cannot know.
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("accepted");
    expect((await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).tosStatus).toBe("proposed");
    const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    expect(tos).toMatchObject({ tosStatus: "proposed", currentEtag: "v2", acceptedEtag: "v1", content: "Terms v2" });
    await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v2" });
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("accepted");
  });

  it("accepting an etag that is not the current one leaves it proposed", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v0" });
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("proposed");
    await expectWalletError(w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "" }), "request-invalid");
  });

  it("is proposed again after setExchangeTosForgotten", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v1" });
    await w.setExchangeTosForgotten({ exchangeBaseUrl: ex.baseUrl });
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("proposed");
    const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    expect(tos.acceptedEtag).toBeUndefined();
    const n = await eventCount(w);
    await w.setExchangeTosForgotten({ exchangeBaseUrl: ex.baseUrl });
    expect(await eventCount(w)).toBe(n);
  });

  it("getExchangeTos negotiates language and format with the exchange", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const de = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage: "de" });
    expect(de).toMatchObject({ contentLanguage: "de", contentType: "text/plain", currentEtag: "v1", tosAvailableLanguages: ["de", "en"] });
    expect(de.content).toContain("Allgemeine Geschäftsbedingungen");
    expect(ex.requests.at(-1)?.headers["accept-language"]).toBe("de");

    const md = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptFormat: ["text/markdown"] });
    expect(md).toMatchObject({ contentLanguage: "en", contentType: "text/markdown" });
    expect(md.content.startsWith("# Terms of Service (v1)")).toBe(true);

    // German has no markdown: the exchange falls back to plain text in German.
    const both = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage: ["fr", "de"], acceptFormat: ["text/markdown"] });
    expect(both).toMatchObject({ contentLanguage: "de", contentType: "text/plain" });

    const plain = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    expect(plain).toMatchObject({ contentLanguage: "en", contentType: "text/plain", tosStatus: "proposed" });
    expect(plain.content).toContain("This is a test exchange");
  });

  it("getExchangeTos sends the longest accepted list items (32 items, 256 characters) as they are", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const langs = [...Array.from({ length: 31 }, (_, i) => `x-${i}`), "de;q=0.9"];
    const format = `text/${"p".repeat(246)}; q=1`;
    expect(format.length).toBe(256);
    const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage: langs, acceptFormat: [format, "text/plain"] });
    expect(tos.contentLanguage).toBe("de");
    expect(ex.requests.at(-1)?.headers?.["accept-language"]).toBe(langs.join(", "));
  });

  it("getExchangeTos names the language 'und' (undetermined) when the exchange sends no Content-Language", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setFault({ kind: "missing-field", field: "Content-Language", path: "terms" });
    const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage: "de" });
    expect(ex.requests.at(-1)?.path).toBe("/terms");
    expect(tos).toMatchObject({ contentLanguage: "und", contentType: "text/plain", tosAvailableLanguages: ["de", "en"] });
    expect(tos.content).toContain("Allgemeine Geschäftsbedingungen");
  });

  it("asking for the same terms in other languages records no new offer", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    const n = await eventCount(w);
    await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage: "de" });
    await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptFormat: ["text/markdown"] });
    expect(await eventCount(w)).toBe(n);
  });

  it("getExchangeTos reports a failing /terms as a WalletError and records nothing", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.setFault({ kind: "http-500", path: "terms" });
    const n = await eventCount(w);
    await expectWalletError(w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl }), "exchange-http-error");
    expect(await eventCount(w)).toBe(n);
    expect((await entry(w, ex.baseUrl)).tosStatus).toBe("pending");
  });

  it("keeps ToS content out of the log and the projections: only etags are stored", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    for (const acceptLanguage of ["en", "de"]) {
      for (const acceptFormat of [["text/plain"], ["text/markdown"]]) {
        await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl, acceptLanguage, acceptFormat });
      }
    }
    await w.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v1" });
    const events = JSON.stringify(await w.exportEvents());
    const projections = JSON.stringify(await w.dumpProjections());
    expect(events).toContain("exchange-tos-offered");
    for (const text of ["Terms of Service", "Geschäftsbedingungen", "Coins have no value", "wertlos"]) {
      expect(events).not.toContain(text);
      expect(projections).not.toContain(text);
    }
  });
});

describe("URL canonicalization", () => {
  it("adds https to a URL without scheme, a trailing slash, and drops query and fragment", async () => {
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: "127.0.0.1:8081" });
    await w.addExchange({ exchangeBaseUrl: "https://Exchange.EXAMPLE:443/Sub/Path?x=1#frag" });
    await w.addExchange({ exchangeBaseUrl: "  HTTP://LocalHost:9/  " });
    expect((await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toEqual([
      "http://localhost:9/",
      "https://127.0.0.1:8081/",
      "https://exchange.example/Sub/Path/",
    ]);
  });

  it("treats two spellings of one exchange as one entry, for adding, updating and reading", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    const bare = ex.baseUrl.slice(0, -1);
    await w.addExchange({ exchangeBaseUrl: bare });
    const n = await eventCount(w);
    await w.addExchange({ exchangeBaseUrl: `${ex.baseUrl}?lang=de#top` });
    expect(await eventCount(w)).toBe(n);
    const item = await w.updateExchange({ exchangeBaseUrl: `${bare}#x` });
    expect(item.exchangeBaseUrl).toBe(ex.baseUrl);
    expect(ex.requests.map((r) => r.path)).toEqual(["/keys", "/terms"]);
    expect((await w.listExchanges()).exchanges).toEqual([item]);
    expect(await entry(w, bare)).toEqual(item);
  });

  it("refuses what is not an http(s) base URL with url-invalid", async () => {
    const { w } = await tempWallet();
    for (const bad of ["", "   ", "ftp://x.example/", "https://user:pw@x.example/", "http://"]) {
      await expectWalletError(w.addExchange({ exchangeBaseUrl: bad }), "url-invalid");
    }
    expect(await w.exportEvents()).toEqual([]);
  });
});

describe("deleteExchange with resources", () => {
  it("refuses to delete an exchange holding coins, writing nothing", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    await usedReadyAccepted(w, ex);
    const clock = await w.getVectorClock();
    const dump = await w.dumpProjections();
    const err = await expectWalletError(w.deleteExchange({ exchangeBaseUrl: ex.baseUrl }), "exchange-has-resources");
    expect(err.message).toMatch(/purge/);
    await expectWalletError(w.deleteExchange({ exchangeBaseUrl: ex.baseUrl, purge: false }), "exchange-has-resources");
    expect(await w.getVectorClock()).toEqual(clock);
    expect(await w.dumpProjections()).toEqual(dump);
    expect(await w.getExchangeResources({ exchangeBaseUrl: ex.baseUrl })).toEqual({ hasResources: true, coins: 2, withdrawalGroups: expect.any(Number) });
  });

  it("purging removes the exchange and its coins; re-adding gives a fresh ephemeral entry", async () => {
    const ex = await testExchange();
    const other = await testExchange({ currency: "EUR" });
    const { w } = await tempWallet();
    await usedReadyAccepted(w, ex);
    await w.addExchange({ exchangeBaseUrl: other.baseUrl });
    await w.recordWithdrawal({ exchangeBaseUrl: other.baseUrl, coins: coins("EUR", 3) });
    expect((await w.getBalances()).balances.map((b) => [b.currency, b.available])).toEqual([["EUR", "EUR:3"], ["KUDOS", "KUDOS:2"]]);

    await w.deleteExchange({ exchangeBaseUrl: ex.baseUrl, purge: true });
    expect((await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toEqual([other.baseUrl]);
    const balances = (await w.getBalances()).balances;
    expect(balances.find((b) => b.currency === "EUR")?.available).toBe("EUR:3");
    expect(balances.find((b) => b.currency === "KUDOS")?.available ?? "KUDOS:0").toBe("KUDOS:0");
    await expectWalletError(w.getExchangeResources({ exchangeBaseUrl: ex.baseUrl }), "exchange-unknown");

    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(await entry(w, ex.baseUrl)).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      exchangeEntryStatus: "ephemeral",
      exchangeUpdateStatus: "initial-update",
      tosStatus: "pending",
    });
    expect(await w.getExchangeResources({ exchangeBaseUrl: ex.baseUrl })).toEqual({ hasResources: false, coins: 0, withdrawalGroups: 0 });
    // The fresh entry asks for everything again, with no stale conditional headers.
    const seen = ex.requests.length;
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toMatchObject({ exchangeEntryStatus: "ephemeral", exchangeUpdateStatus: "ready", tosStatus: "proposed" });
    expect(ex.requests.slice(seen).map((r) => r.headers["if-none-match"])).toEqual([undefined, undefined]);
  });

  it("purging an exchange without resources is an ordinary delete", async () => {
    const { w } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: "https://x.example/" });
    await w.deleteExchange({ exchangeBaseUrl: "https://x.example/", purge: true });
    expect((await w.listExchanges()).exchanges).toEqual([]);
  });
});

describe("each injected fault changes only the update status and its error", () => {
  type Case = { name: string; code?: string; inject: (ex: TestExchange) => void; clear: (ex: TestExchange) => void; status?: string };
  const fault = (f: ExchangeFault): Pick<Case, "inject" | "clear"> => ({ inject: (ex) => ex.setFault(f), clear: (ex) => ex.setFault(undefined) });
  const cases: Case[] = [
    { name: "HTTP 500 on /keys", code: "exchange-http-error", ...fault({ kind: "http-500", path: "keys" }) },
    { name: "HTTP 500 everywhere", code: "exchange-http-error", ...fault({ kind: "http-500" }) },
    { name: "malformed JSON", code: "exchange-malformed-response", ...fault({ kind: "malformed-json" }) },
    { name: "missing master_public_key", code: "exchange-keys-invalid", ...fault({ kind: "missing-field", field: "master_public_key" }) },
    {
      name: "missing stamp_expire_withdraw",
      code: "exchange-keys-invalid",
      ...fault({ kind: "missing-field", field: "denominations[0].denoms[0].stamp_expire_withdraw" }),
    },
    { name: "wrongly typed currency", code: "exchange-keys-invalid", ...fault({ kind: "set-field", field: "currency", value: 42 }) },
    { name: "hang", code: "exchange-timeout", ...fault({ kind: "hang" }) },
    { name: "connection reset", code: "exchange-network-error", ...fault({ kind: "reset" }) },
    { name: "incompatible version", code: "exchange-version-incompatible", inject: (ex) => ex.setVersion("30:0:0"), clear: (ex) => ex.setVersion("23:0:6") },
    { name: "rotated master key", code: "exchange-master-pub-changed", inject: (ex) => ex.rotateMasterKey(), clear: (ex) => ex.reset() },
    {
      name: "expired denominations",
      code: "exchange-denominations-expired",
      inject: (ex) => ex.setDenominationsExpired(true),
      clear: (ex) => ex.setDenominationsExpired(false),
    },
    { name: "HTTP 500 on /terms only", status: "ready", ...fault({ kind: "http-500", path: "terms" }) },
    { name: "hang on /terms only", status: "ready", ...fault({ kind: "hang", path: "terms" }) },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code ?? c.status}`, async () => {
      const ex = await testExchange();
      const { w } = await tempWallet({ httpTimeoutMs: 300 });
      const before = await usedReadyAccepted(w, ex);
      await w.addExchange({ exchangeBaseUrl: "https://bystander.example/" });
      const bystander = await entry(w, "https://bystander.example/");
      const resources = await w.getExchangeResources({ exchangeBaseUrl: ex.baseUrl });
      const balances = await w.getBalances();

      c.inject(ex);
      const after = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
      const { exchangeUpdateStatus, lastUpdateErrorInfo, ...rest } = after;
      const { exchangeUpdateStatus: _s, lastUpdateErrorInfo: _e, ...restBefore } = before;
      expect(rest).toEqual(restBefore);
      if (c.code !== undefined) {
        expect(exchangeUpdateStatus).toBe("unavailable-update");
        expect(lastUpdateErrorInfo?.code).toBe(c.code);
      } else {
        expect(after).toEqual(before);
      }
      expect(after.exchangeEntryStatus).toBe("used");
      expect(after.tosStatus).toBe("accepted");
      expect(await entry(w, "https://bystander.example/")).toEqual(bystander);
      expect(await w.getExchangeResources({ exchangeBaseUrl: ex.baseUrl })).toEqual(resources);
      expect(await w.getBalances()).toEqual(balances);
      const events = await w.exportEvents();
      expect(events.filter((e) => e.type.startsWith("exchange-tos-") && e.type !== "exchange-tos-offered").map((e) => e.type)).toEqual([
        "exchange-tos-accepted",
      ]);

      c.clear(ex);
      expect(await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).toEqual(before);
      expect(await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl })).toMatchObject({ acceptedEtag: "v1", currentEtag: "v1", tosStatus: "accepted" });
    });
  }
});

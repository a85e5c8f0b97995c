// Import and export of event logs between devices: what travels, in which
// order, what is refused and why, and the two merge rules that decide
// concurrent writes (observed-remove deletes, last-writer-wins registers).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { catalogue, openWallet, type EventType, type Wallet, type WalletEvent } from "../src/index.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { dotOf, isCausallyOrdered, observe, syncWallets } from "../src/testing/index.ts";

const EX = "https://ex0.test/";

let dir: string;
const opened: Wallet[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "wallet-merge-"));
});
afterEach(async () => {
  for (const w of opened.splice(0)) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

async function wallet(deviceId: string, http?: (url: string, init?: RequestInit) => Promise<Response>): Promise<Wallet> {
  const w = await openWallet({ path: join(dir, `${deviceId}-${opened.length}`), deviceId, http });
  opened.push(w);
  return w;
}

async function withdraw(w: Wallet, coinPubs: string[], value = "KUDOS:1", url = EX): Promise<void> {
  await w.recordWithdrawal({ exchangeBaseUrl: url, coins: coinPubs.map((coinPub) => ({ coinPub, denomPubHash: "denom-1", value })) });
}

/** Two devices that both hold dev0's exchange and coins `a1`, `a2`. */
async function twoDevicesSharingCoins(): Promise<[Wallet, Wallet]> {
  const a = await wallet("dev0");
  const b = await wallet("dev1");
  await a.addExchange({ exchangeBaseUrl: EX });
  await withdraw(a, ["a1", "a2"]);
  await syncWallets(a, b);
  return [a, b];
}

async function syncBothWays(a: Wallet, b: Wallet): Promise<void> {
  await syncWallets(a, b);
  await syncWallets(b, a);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Error & { code: string; details?: Record<string, unknown> }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a WalletError ${code}`).toMatchObject({ name: "WalletError", code });
  return err as Error & { code: string; details?: Record<string, unknown> };
}

describe("exportEvents", () => {
  it("gives exactly the events not covered by since, each after its deps", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    const c = await wallet("dev2");
    await b.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    await syncBothWays(a, b);
    await syncWallets(a, c);
    const since = await c.getVectorClock();
    await a.recordSpend({ coinPub: "a2", amount: "KUDOS:0.25" });
    await b.addExchange({ exchangeBaseUrl: "https://ex1.test/" });
    await withdraw(b, ["b1"], "KUDOS:2", "https://ex1.test/");
    await syncWallets(b, a);
    await a.setExchangeTosAccepted({ exchangeBaseUrl: EX, etag: "tos-v1" });

    const all = await a.exportEvents();
    const missing = await a.exportEvents({ since });
    const expected = all.filter((e) => e.seq > (since[e.device] ?? 0));
    expect(missing.map(dotOf).sort()).toEqual(expected.map(dotOf).sort());
    expect(missing.length).toBeGreaterThan(0);
    expect(isCausallyOrdered(missing, since)).toBe(true);
    expect(isCausallyOrdered(all)).toBe(true);
    expect(await a.exportEvents({ since: await a.getVectorClock() })).toEqual([]);
    // What the export leaves out is exactly what the receiver already holds.
    expect(await c.importEvents(missing)).toEqual({ added: missing.length, known: 0 });
    expect(await c.getVectorClock()).toEqual(await a.getVectorClock());
  });

  it("pages with limit: each page is the next prefix of the causal order, and importing page by page ends where one import does", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    const c = await wallet("dev2");
    await b.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    await c.addExchange({ exchangeBaseUrl: "https://ex1.test/" });
    await withdraw(c, ["c1", "c2"], "KUDOS:2", "https://ex1.test/");
    await syncBothWays(a, b);
    await syncWallets(c, a);
    await a.recordSpend({ coinPub: "c2", amount: "KUDOS:1" });
    await a.setExchangeTosAccepted({ exchangeBaseUrl: EX, etag: "tos-v1" });
    const all = await a.exportEvents();
    expect(new Set(all.map((e) => e.device)).size).toBe(3);

    for (const limit of [1, 2, 3, 7, all.length, all.length + 5]) {
      expect(await a.exportEvents({ limit })).toEqual(all.slice(0, limit));
      const to = await wallet("dev3");
      const pages: number[] = [];
      for (let page; (page = await a.exportEvents({ since: await to.getVectorClock(), limit })).length > 0; ) {
        expect(page.length).toBeLessThanOrEqual(limit);
        // Causally closed: the page imports alone, nothing missing.
        expect(await to.importEvents(page)).toEqual({ added: page.length, known: 0 });
        pages.push(page.length);
      }
      expect(pages.reduce((x, y) => x + y, 0)).toBe(all.length);
      expect(pages.length).toBe(Math.ceil(all.length / limit));
      expect(await to.getVectorClock()).toEqual(await a.getVectorClock());
      expect(await to.getBalances()).toEqual(await a.getBalances());
    }
    // A since that covers part of the log pages on from there.
    const since = await b.getVectorClock();
    const rest = await a.exportEvents({ since });
    expect(await a.exportEvents({ since, limit: 2 })).toEqual(rest.slice(0, 2));
  });

  it("refuses a limit that is not a whole number of at least 1", async () => {
    const [a] = await twoDevicesSharingCoins();
    for (const limit of [0, -1, 1.5, Number.NaN, Infinity, "10", null]) {
      const err = await expectCode(a.exportEvents({ limit } as never), "request-invalid");
      expect(err.message).toContain("limit");
    }
  });

  describe("with an exchange to update from", () => {
    let ex: TestExchange;
    beforeAll(async () => {
      ex = await startTestExchange();
    });
    afterAll(() => ex.close());

    it("never lets device-local events leave", async () => {
      const a = await wallet("dev0");
      await a.addExchange({ exchangeBaseUrl: ex.baseUrl });
      await a.updateExchange({ exchangeBaseUrl: ex.baseUrl });
      expect((await a.dumpProjections()).some((r) => r.key[0] === "upd")).toBe(true);

      const log = await a.exportEvents();
      for (const e of log) expect(catalogue[e.type as EventType].scope, e.type).toBe("shared");
      expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
      expect(log.map((e) => e.type)).toContain("exchange-keys-fetched");

      const b = await wallet("dev1");
      await b.importEvents(log);
      expect((await b.dumpProjections()).some((r) => r.key[0] === "upd")).toBe(false);
      expect((await b.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("ready");
    });

    it("concurrent ToS acceptances converge to the one with the higher (lamport, device)", async () => {
      for (const aheadOnDev0 of [false, true]) {
        const a = await wallet("dev0");
        const b = await wallet("dev1");
        await a.addExchange({ exchangeBaseUrl: ex.baseUrl });
        await a.updateExchange({ exchangeBaseUrl: ex.baseUrl });
        await syncWallets(a, b);
        const current = (await a.getExchangeTos({ exchangeBaseUrl: ex.baseUrl })).currentEtag;
        // Equal lamports: the higher device (dev1) wins; one more event on dev0 lets dev0 win by lamport.
        if (aheadOnDev0) await a.addExchange({ exchangeBaseUrl: "https://elsewhere.test/" });
        await a.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: current });
        await b.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "some-other-etag" });
        await syncBothWays(a, b);

        const writes = (await a.exportEvents()).filter((e) => e.type === "exchange-tos-accepted");
        expect(writes.map((e) => e.device).sort()).toEqual(["dev0", "dev1"]);
        const winner = writes.reduce((x, y) => (y.lamport > x.lamport || (y.lamport === x.lamport && y.device > x.device) ? y : x));
        expect(winner.device).toBe(aheadOnDev0 ? "dev0" : "dev1");
        for (const w of [a, b]) {
          const tos = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
          expect(tos.acceptedEtag, w.deviceId).toBe((winner.data as { etag: string }).etag);
          expect(tos.tosStatus).toBe(aheadOnDev0 ? "accepted" : "proposed");
        }
      }
    });
  });
});

describe("importEvents", () => {
  it("refuses events claiming to be authored by the importing device: import-own-device", async () => {
    const a = await wallet("dev0");
    await a.addExchange({ exchangeBaseUrl: EX });
    const impostor = await wallet("dev0");
    const err = await expectCode(impostor.importEvents(await a.exportEvents()), "import-own-device");
    expect(err.details).toMatchObject({ device: "dev0", seq: 1 });
    expect(await impostor.getVectorClock()).toEqual({});
  });

  it("refuses a gap in a device's seq: import-missing-deps names the missing dot", async () => {
    const a = await wallet("dev0");
    await a.addExchange({ exchangeBaseUrl: EX });
    await withdraw(a, ["a1"]);
    await a.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    const [e1, , e3] = await a.exportEvents();
    const b = await wallet("dev1");
    const err = await expectCode(b.importEvents([e1, e3]), "import-missing-deps");
    expect(err.details).toMatchObject({ missing: { device: "dev0", seq: 2 } });
    expect(err.message).toContain("dev0:2");
    expect(await b.getVectorClock()).toEqual({});
  });

  it("refuses an event whose dependency on another device is missing: import-missing-deps", async () => {
    const [, b] = await twoDevicesSharingCoins();
    await b.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    const fromB = (await b.exportEvents()).filter((e) => e.device === "dev1");
    const c = await wallet("dev2");
    const err = await expectCode(c.importEvents(fromB), "import-missing-deps");
    expect(err.details).toMatchObject({ missing: { device: "dev0", seq: 2 } });
  });

  it("refuses a broken prev: import-broken-chain", async () => {
    const a = await wallet("dev0");
    await a.addExchange({ exchangeBaseUrl: EX });
    await withdraw(a, ["a1"]);
    const log = await a.exportEvents();
    const tampered = structuredClone(log);
    tampered[1].prev = log[1].prev!.replace(/.$/, (ch) => (ch === "0" ? "1" : "0"));
    const b = await wallet("dev1");
    const err = await expectCode(b.importEvents(tampered), "import-broken-chain");
    expect(err.details).toMatchObject({ device: "dev0", seq: 2 });
    // Changing an event's content breaks its successor's link the same way.
    const edited = structuredClone(log);
    edited[0].data = { url: "https://ex9.test/", preset: false };
    await expectCode(b.importEvents(edited), "import-broken-chain");
    expect(await b.getVectorClock()).toEqual({});
  });

  it("refuses a lamport not above a dependency's: import-bad-lamport", async () => {
    const [, b] = await twoDevicesSharingCoins();
    await b.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    const log = await b.exportEvents();
    const spend = log.find((e) => e.device === "dev1")!;
    const dep = log.find((e) => e.device === "dev0" && e.seq === spend.deps.dev0)!;
    expect(spend.lamport).toBeGreaterThan(dep.lamport);
    const c = await wallet("dev2");
    const err = await expectCode(c.importEvents(log.map((e) => (e === spend ? { ...e, lamport: dep.lamport } : e))), "import-bad-lamport");
    expect(err.details).toMatchObject({ device: "dev1", seq: 1 });
    expect(await c.getVectorClock()).toEqual({});
  });

  it("refuses a second, different event with a known dot: import-equivocation", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    const twin = { ...(await a.exportEvents())[0], time: 1 };
    await expectCode(b.importEvents([twin]), "import-equivocation");
  });

  it("knows a held event whatever its key order, and refuses a held dot whose event differs in any field", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    const log = await a.exportEvents();
    const reversed = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).reverse());
    // The same events with every envelope's and payload's keys reversed: not their stored text, still them.
    const shuffled = log.map((e) => reversed({ ...e, data: reversed(e.data as Record<string, unknown>) }) as unknown as WalletEvent);
    expect(await b.importEvents(shuffled)).toEqual({ added: 0, known: log.length });
    const before = await b.exportEvents();
    for (const field of ["lamport", "time", "prev", "data"] as const) {
      const changed = log.map((e, i) => (i === 1 ? { ...e, [field]: field === "data" ? { ...(e.data as object), extra: 1 } : field === "prev" ? "X" : 7 } : e));
      const err = await expectCode(b.importEvents(changed), field === "data" ? "event-invalid" : "import-equivocation");
      if (field !== "data") expect(err.details).toMatchObject({ device: "dev0", seq: 2 });
    }
    // A value no JSON can hold, under a held dot: refused as invalid, not a raw TypeError.
    await expectCode(b.importEvents([{ ...log[0], time: 10n } as unknown as WalletEvent]), "event-invalid");
    expect(await b.exportEvents()).toEqual(before);
  });

  it("counts duplicates within one batch as known", async () => {
    const [a] = await twoDevicesSharingCoins();
    const log = await a.exportEvents();
    const c = await wallet("dev2");
    expect(await c.importEvents([...log, ...log])).toEqual({ added: log.length, known: log.length });
    expect(await c.exportEvents()).toEqual(log);
  });

  it("applies a batch delivered in reverse order (causal delivery sorts it)", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    await b.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    await a.recordSpend({ coinPub: "a2", amount: "KUDOS:0.25" });
    await syncBothWays(a, b);
    const log = await a.exportEvents();
    const c = await wallet("dev2");
    expect(await c.importEvents([...log].reverse())).toEqual({ added: log.length, known: 0 });
    expect(await observe(c)).toEqual(await observe(a));
  });

  it("changes nothing when any event of the batch is malformed", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    await a.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    const batch: WalletEvent[] = structuredClone(await a.exportEvents());
    const before = JSON.stringify(await b.dumpProjections());
    batch[batch.length - 1].data = { ...(batch[batch.length - 1].data as object), amount: "KUDOS:0.50" };
    await expectCode(b.importEvents(batch), "event-invalid");
    expect(JSON.stringify(await b.dumpProjections())).toBe(before);
  });
});

describe("observed-remove", () => {
  it("a purge delete removes only what its author saw: a concurrent withdrawal keeps the exchange, used, with its coins", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    await a.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    await withdraw(b, ["b1"], "KUDOS:5");
    await syncBothWays(a, b);

    for (const w of [a, b]) {
      const { exchanges } = await w.listExchanges();
      expect(exchanges.map((x) => [x.exchangeBaseUrl, x.exchangeEntryStatus]), w.deviceId).toEqual([[EX, "used"]]);
      expect((await w.getCoin({ coinPub: "b1" })).remaining).toBe("KUDOS:5");
      for (const coinPub of ["a1", "a2"]) await expectCode(w.getCoin({ coinPub }), "coin-unknown");
      expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 0 });
      expect((await w.getBalances()).balances.map((x) => [x.currency, x.available])).toEqual([["KUDOS", "KUDOS:5"]]);
    }
    expect(await observe(b)).toEqual(await observe(a));
  });

  it("a delete that saw everything removes the exchange on every device", async () => {
    const [a, b] = await twoDevicesSharingCoins();
    await b.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    await syncBothWays(a, b);
    for (const w of [a, b]) {
      expect((await w.listExchanges()).exchanges).toEqual([]);
      await expectCode(w.getCoin({ coinPub: "a1" }), "coin-unknown");
    }
  });
});

// Issue 13, failure 4: a device's own events were not held to the rules its
// peers apply. An imported lamport of 2^53−1 was accepted and the device's
// next event got an unsafe lamport, which every peer refused forever; a host
// clock of −1000 (or 2^60) wrote events every peer refuses. Chains are dense
// and imports atomic, so one such event stalls the device's sync for good.
// Now imports keep every lamport below 2^50 with a successor left
// (import-bad-lamport), and the device's own events are checked by the same
// rules as imports before they are written (clock-invalid, import-bad-lamport).
import { afterAll, describe, expect, it } from "vitest";
import { PROJECTIONS } from "../src/projections/index.ts";
import { MAX_LAMPORT, MAX_TIME_MS, type WalletEvent } from "../src/events/envelope.ts";
import { openStore } from "../src/events/store.ts";
import { WalletError } from "../src/errors.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const NOW = Date.UTC(2025, 0, 15);

const dirs: { cleanup(): void }[] = [];
const wallets: Wallet[] = [];
afterAll(async () => {
  for (const w of wallets) await w.close();
  for (const d of dirs) d.cleanup();
});
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}
async function wallet(opts: { deviceId?: string; now?: () => number } = {}): Promise<Wallet> {
  const w = await openWallet({ path: dir(), now: () => NOW, ...opts });
  wallets.push(w);
  return w;
}
async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${String(e)}`;
  }
  return undefined;
}
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

async function snapshot(w: Wallet) {
  return { log: await w.exportEvents(), clock: await w.getVectorClock(), dump: await w.dumpProjections() };
}

/** A remote device's first event with the given lamport. */
const remote = (lamport: number, device = "remote"): WalletEvent => ({ device, seq: 1, lamport, deps: {}, time: NOW, type: "exchange-added", data: { url: "https://remote.example/", preset: false } });

describe("lamports: an import leaves every device a successor below 2^50", () => {
  it.each([
    ["2^53−1", Number.MAX_SAFE_INTEGER],
    ["2^50", MAX_LAMPORT],
    ["2^50−1", MAX_LAMPORT - 1],
  ])("an imported event with lamport %s is import-bad-lamport, nothing written", async (_, lamport) => {
    const w = await wallet();
    await w.addExchange({ exchangeBaseUrl: EX });
    const before = await snapshot(w);
    expect(await codeOf(w.importEvents([remote(lamport)]))).toBe("import-bad-lamport");
    expect(await snapshot(w)).toEqual(before);
    // The wallet goes on: its next event is ordinary and a peer takes its whole log.
    await w.addExchange({ exchangeBaseUrl: "https://next.example/" });
    const peer = await wallet();
    expect(await peer.importEvents(wire(await w.exportEvents()))).toEqual({ added: 2, known: 0 });
  });

  it("a lamport beyond 2^53 (not a safe integer) is refused too", async () => {
    const w = await wallet();
    expect(await codeOf(w.importEvents([remote(2 ** 60)]))).toMatch(/^(event-invalid|import-bad-lamport)$/);
    expect(await w.exportEvents()).toEqual([]);
  });

  it("the largest importable lamport (2^50−2) is accepted, and a peer accepts it from this wallet's export", async () => {
    const w = await wallet();
    expect(await w.importEvents([remote(MAX_LAMPORT - 2)])).toEqual({ added: 1, known: 0 });
    const peer = await wallet();
    expect(await peer.importEvents(wire(await w.exportEvents()))).toEqual({ added: 1, known: 0 });
  });

  // Fails while the own-append bound (lamport < 2^50) is one above the import bound (lamport < 2^50 − 1):
  // after importing 2^50−2 the device writes lamport 2^50−1, which every peer refuses.
  it("after importing lamport 2^50−2, the device's next event is refused, or is one its peers accept", async () => {
    const w = await wallet({ deviceId: "author" });
    await w.importEvents([remote(MAX_LAMPORT - 2)]);
    const before = await snapshot(w);
    const own = await codeOf(w.addExchange({ exchangeBaseUrl: EX }));
    if (own !== undefined) {
      expect(own).toBe("import-bad-lamport");
      expect(await snapshot(w)).toEqual(before);
      return;
    }
    const log = await w.exportEvents();
    const peer = await wallet();
    expect(log.find((e) => e.device === "author")?.lamport).toBeLessThan(MAX_LAMPORT);
    expect(await codeOf(peer.importEvents(wire(log)))).toBeUndefined();
  });
});

describe("time: a host clock outside 1970 … 9999 writes nothing", () => {
  it.each([
    ["−1000", () => -1000],
    ["2^60", () => 2 ** 60],
    ["past year 9999", () => MAX_TIME_MS + 1],
    ["NaN", () => NaN],
    ["Infinity", () => Infinity],
    ["a string", () => "soon" as unknown as number],
    ["a throwing clock", () => {
      throw new Error("no clock");
    }],
  ])("a clock giving %s: the request is clock-invalid and nothing is written", async (_, now) => {
    const w = await wallet({ now });
    expect(await codeOf(w.addExchange({ exchangeBaseUrl: EX }))).toBe("clock-invalid");
    expect(await w.exportEvents()).toEqual([]);
    expect(await w.dumpProjections()).toEqual([]);
    expect(await w.getVectorClock()).toEqual({});
  });

  it.each([
    ["0 (1970)", 0],
    ["the last ms of 9999", MAX_TIME_MS],
  ])("a clock at %s writes events a peer accepts", async (_, t) => {
    const w = await wallet({ now: () => t });
    await w.addExchange({ exchangeBaseUrl: EX });
    const log = await w.exportEvents();
    expect(log[0].time).toBe(t);
    const peer = await wallet();
    expect(await peer.importEvents(wire(log))).toEqual({ added: 1, known: 0 });
  });

  it("runPendingUpdates with a now past 9999 (a safe integer) writes nothing", async () => {
    const w = await wallet();
    await w.addExchange({ exchangeBaseUrl: EX });
    const before = await snapshot(w);
    expect(await codeOf(w.runPendingUpdates({ now: MAX_TIME_MS + 1 }))).toMatch(/^(clock-invalid|request-invalid)$/);
    expect(await snapshot(w)).toEqual(before);
  });

  it("the store itself refuses own shared and local events stamped outside 1970 … 9999", async () => {
    const store = await openStore({ path: dir(), projections: PROJECTIONS });
    try {
      for (const t of [-1000, 2 ** 60, MAX_TIME_MS + 1, 1.5, NaN]) {
        expect(() => store.write((tx) => tx.appendOwn([{ type: "exchange-added", data: { url: EX, preset: false } }], t)), String(t)).toThrow(
          expect.objectContaining({ code: "clock-invalid" }),
        );
        expect(() => store.write((tx) => tx.appendLocal({ type: "exchange-update-attempted", data: { url: EX } }, t)), String(t)).toThrow(
          expect.objectContaining({ code: "clock-invalid" }),
        );
      }
      expect(store.eventCount()).toBe(0);
      expect([...store.localEvents()]).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

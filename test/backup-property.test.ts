// Properties of backups. On random multi-device histories played on real
// wallets (test/support/simulator.ts): importing A's backup on B gives A
// merged with B; importing it again changes nothing; it commutes with
// importEvents of other events, and equals importEvents of the same events;
// replicas with one event set write one content. Without a wallet: the
// columnar log gives back any dense, chained log byte for byte, and no
// mutation of an encoded log makes decoding throw anything but a refusal.
//
// PROPERTY_RUNS raises the number of runs for deep runs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, type BackupContent, type Wallet, type WalletEvent } from "../src/index.ts";
import { isWalletError } from "../src/errors.ts";
import { readBackupContent } from "../src/backup/content-reader.ts";
import { createColumnDecoder, createColumnEncoder } from "../src/backup/json-columns.ts";
import { createLogEncoder, decodeLog } from "../src/backup/log-codec.ts";
import { createStringTable } from "../src/backup/string-table.ts";
import { encodeEvent } from "../src/events/event-codec.ts";
import { historyArb, sharedRecords, Simulation, type History } from "../src/testing/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 8);
const CODEC_RUNS = Math.max(50, RUNS * 10);
const TIMEOUT = 60_000 + RUNS * 6_000;

const small = historyArb({ devices: 3, minSteps: 8, maxSteps: 25 });

async function withSim<T>(h: History, body: (sim: Simulation) => Promise<T>): Promise<T> {
  const sim = await Simulation.play(h);
  try {
    return await body(sim);
  } catch (e) {
    if (e instanceof Error) e.message += `\n\n${sim.describe()}`;
    throw e;
  } finally {
    await sim.close();
  }
}

/** Shared state and log of a wallet, as one comparable value. */
async function snapshot(w: Wallet) {
  return { records: await sharedRecords(w), log: canonicalJson(await w.exportEvents()), clock: await w.getVectorClock() };
}

const eventBytes = (events: Iterable<WalletEvent>) => [...events].map((e) => canonicalJson(e)).sort();

describe("backups on random multi-device histories", () => {
  it(
    "export on A, import on B: B equals A merged with B, and importing again changes nothing",
    async () => {
      await fc.assert(
        fc.asyncProperty(small, (h) =>
          withSim(h, async (sim) => {
            const [a, b] = sim.wallets;
            const content = await a.exportBackupPlain();
            const reference = await sim.openWallet("reference");
            await reference.importEvents(await a.exportEvents());
            await reference.importEvents(await b.exportEvents());
            await b.importBackupPlain(content);
            const merged = await snapshot(b);
            expect(merged).toEqual(await snapshot(reference));
            expect((await b.importBackupPlain(content)).added).toBe(0);
            expect(await snapshot(b)).toEqual(merged);
          }),
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    "import of a backup commutes with importEvents, and equals importEvents of the same events",
    async () => {
      await fc.assert(
        fc.asyncProperty(small, (h) =>
          withSim(h, async (sim) => {
            const [a, , c] = sim.wallets;
            const file = await a.exportBackupEncrypted();
            const key = (await a.getBackupRecovery()).walletRootPriv;
            const cEvents = await c.exportEvents();
            const x = await sim.openWallet("x");
            await x.importBackupEncrypted(file, { walletRootPriv: key });
            await x.importEvents(cEvents);
            const y = await sim.openWallet("y");
            await y.importEvents(cEvents);
            await y.importBackupEncrypted(file, { walletRootPriv: key });
            const z = await sim.openWallet("z");
            await z.importEvents(await a.exportEvents());
            await z.importEvents(cEvents);
            const sx = await snapshot(x);
            expect(await snapshot(y)).toEqual(sx);
            expect(await snapshot(z)).toEqual(sx);
          }),
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    "the content holds exactly the log, byte for byte, and replicas with one event set write one content",
    async () => {
      await fc.assert(
        fc.asyncProperty(small, (h) =>
          withSim(h, async (sim) => {
            for (const w of sim.wallets) {
              const read = readBackupContent(JSON.parse(canonicalJson(await w.exportBackupPlain())));
              expect(eventBytes(read.log.events())).toEqual(eventBytes(await w.exportEvents()));
            }
            await sim.fullSync();
            // The simulated devices were opened apart (each its own root key); one person's share one.
            const strip = (x: BackupContent) => canonicalJson({ ...x, current_device_id: undefined, timestamp: undefined, wallet_root_pub: undefined });
            const contents = await Promise.all(sim.wallets.map(async (w) => strip(await w.exportBackupPlain())));
            for (const x of contents) expect(x).toBe(contents[0]);
          }),
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );
});

// ------------------------------------------------------------ the codec alone

/** A JSON value as the store would hand it back: parsed from JSON (no -0, no undefined). */
const jsonValue = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe("the columnar encoding", () => {
  it("gives back any sequence of JSON values exactly", () => {
    fc.assert(
      fc.property(fc.array(jsonValue, { maxLength: 30 }), (values) => {
        const enc = createColumnEncoder();
        for (const v of values) enc.add(v);
        const table = createStringTable();
        const entries = JSON.parse(canonicalJson(enc.finish(table)));
        if (values.length === 0) return;
        const dec = createColumnDecoder(entries, table.list, "test");
        const cur = dec.start();
        for (const v of values) expect(canonicalJson(dec.read(cur))).toBe(canonicalJson(v));
        dec.checkConsumed(cur);
      }),
      { numRuns: CODEC_RUNS },
    );
  });

  /** A dense, chained log of 1–3 devices with random payloads and deps that grow (and sometimes drop), as a store would hold it. */
  const logArb = fc
    .array(fc.record({ device: fc.constantFrom("devA", "devB", "devC"), type: fc.constantFrom("t-one", "t-two", "t-three"), data: jsonValue, sees: fc.boolean(), gap: fc.nat(3) }), {
      minLength: 1,
      maxLength: 40,
    })
    .map((steps) => {
      const byDevice = new Map<string, WalletEvent[]>();
      let lamport = 0;
      let time = 1_700_000_000_000;
      for (const s of steps) {
        const own = byDevice.get(s.device) ?? [];
        const deps: Record<string, number> = {};
        if (own.length > 0) deps[s.device] = own.length;
        if (s.sees) for (const [d, es] of byDevice) if (d !== s.device && es.length > 0) deps[d] = es.length;
        lamport += 1 + s.gap;
        time += s.gap * 1000 - 1500;
        const e: WalletEvent = { device: s.device, seq: own.length + 1, lamport, deps, time: Math.max(0, time), type: s.type, data: s.data };
        if (own.length > 0) e.prev = encodeEvent(own[own.length - 1]).hash;
        own.push(JSON.parse(canonicalJson(e)) as WalletEvent);
        byDevice.set(s.device, own);
      }
      return [...byDevice.entries()].sort(([x], [y]) => (x < y ? -1 : 1));
    });

  function encode(chains: [string, WalletEvent[]][]) {
    const enc = createLogEncoder();
    for (const [d, es] of chains) enc.addChain(d, es);
    const table = createStringTable();
    const log = enc.finish(table);
    return JSON.parse(canonicalJson({ log, strings: table.list })) as { log: unknown; strings: string[] };
  }

  it("gives back any dense, chained log byte for byte, prev hashes and own deps recomputed", () => {
    fc.assert(
      fc.property(logArb, (chains) => {
        const { log, strings } = encode(chains);
        const decoded = decodeLog(log, strings);
        const want = chains.flatMap(([, es]) => es.map((e) => canonicalJson(e))).sort();
        expect([...decoded.events()].map((e) => canonicalJson(e)).sort()).toEqual(want);
      }),
      { numRuns: CODEC_RUNS },
    );
  });

  /** Replaces the value at a random place of a JSON tree. */
  function mutate(v: unknown, path: number[], replacement: unknown): unknown {
    if (path.length === 0 || v === null || typeof v !== "object") return replacement;
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v as object);
    if (entries.length === 0) return replacement;
    const [k, child] = entries[path[0] % entries.length];
    const copy: any = Array.isArray(v) ? [...v] : { ...(v as object) };
    copy[k] = mutate(child, path.slice(1), replacement);
    return copy;
  }

  it("refuses any mutation of an encoded log with a backup code, never with a crash", () => {
    const replacement = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(2 ** 31, -1, 1e300, 0.5, "p", "sfx", "", null, [], {}, [0], ["raw", [1]]));
    fc.assert(
      fc.property(logArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), replacement, (chains, path, r) => {
        const { log, strings } = encode(chains);
        const bad = mutate({ log, strings }, path, r) as { log: unknown; strings: unknown };
        try {
          const decoded = decodeLog(bad.log, Array.isArray(bad.strings) ? (bad.strings as string[]) : []);
          for (const e of decoded.events()) canonicalJson(e);
        } catch (e) {
          expect(isWalletError(e), String(e)).toBe(true);
          expect((e as { code: string }).code).toMatch(/^backup-|^encoding-not-json$/);
        }
      }),
      { numRuns: CODEC_RUNS * 4 },
    );
  });

  it("a hostile length cannot make decoding allocate: a 2^30-item array of nothing runs out of entries", () => {
    const strings: string[] = [];
    const entries = [
      { path: [], len: [2 ** 30] },
      { path: [0], kinds: "", keys: [[]], shape: [] },
    ];
    const dec = createColumnDecoder(entries, strings, "hostile");
    expect(() => dec.read(dec.start())).toThrow(/runs out/);
  });
});

// A wallet with 100,000 coins: queries and reopening must not depend on the
// size of the history. Time alone is a weak witness on a busy machine, so the
// file also counts every LMDB read per database (by wrapping the read methods
// that all lmdb-js databases share) and shows that the balance, resource and
// conflict queries, and reopening, read no event of the log at all.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { open } from "lmdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWallet, type Wallet } from "../src/index.ts";
import { sealJson } from "../src/events/sealed-value.ts";

const EX_KUDOS = "https://kudos.scale.test/";
const EX_EUR = "https://eur.scale.test/";
const BATCHES = 100;
const PER_BATCH = 1_000;
const COINS = BATCHES * PER_BATCH;
// Databases holding the log (shared events, device-local events).
const LOG_DBS = ["log", "local"];
// Reads one head check makes, as the counter sees them: two gets, each of which lmdb-js
// performs as get → getBinary → getBinaryFast, each counted with its entry.
const HEAD_CHECK_READS = 2 * 3 * 2;

// ---------------------------------------------------------------- read counter

type ReadCounts = Record<string, { calls: number; entries: number }>;
const READ_METHODS = ["get", "getEntry", "getBinary", "getBinaryFast", "getMany", "getRange", "getValues", "getKeys"] as const;
type Emitter = typeof EventEmitter & { init: (this: object, ...a: unknown[]) => void };

/**
 * Counts LMDB reads per named database. lmdb-js defines a fresh class per
 * environment, out of reach of the wallet's caller, but every one extends
 * EventEmitter, whose constructor calls `EventEmitter.init`: hooking that
 * catches each environment's prototype as its first handle is built (the read
 * methods are already on it, and nothing has been read yet) and wraps the read
 * methods there, so every read the engine makes through any handle is seen.
 * Range reads also count the entries actually iterated (ranges are lazy).
 * The real database does all the work; the wrappers only count.
 */
function lmdbReadCounter() {
  const emitter = EventEmitter as Emitter;
  const init = emitter.init;
  const patched = new Map<Record<string, unknown>, Map<string, unknown>>();
  let reads: ReadCounts | undefined;
  const bump = (db: { name?: string | null }, calls: number, entries: number) => {
    if (!reads) return;
    const r = (reads[db?.name ?? "(root)"] ??= { calls: 0, entries: 0 });
    r.calls += calls;
    r.entries += entries;
  };
  const patch = (proto: Record<string, unknown>) => {
    const originals = new Map<string, unknown>();
    patched.set(proto, originals);
    for (const m of READ_METHODS) {
      const orig = proto[m];
      if (typeof orig !== "function") continue;
      originals.set(m, orig);
      proto[m] = function (this: { name?: string | null }, ...args: unknown[]) {
        const out = (orig as (...a: unknown[]) => unknown).apply(this, args);
        bump(this, 1, m === "getRange" ? 0 : 1);
        const iterable = out as { iterate?: (o?: unknown) => unknown } | undefined;
        if (m === "getRange" && typeof iterable?.iterate === "function") {
          const iterate = iterable.iterate;
          iterable.iterate = (o?: unknown) => {
            const it = iterate(o) as { next?: (...a: unknown[]) => { done?: boolean } } | undefined;
            if (it && typeof it.next === "function") {
              const next = it.next.bind(it);
              it.next = (...a: unknown[]) => {
                const r = next(...a);
                if (!r.done) bump(this, 0, 1);
                return r;
              };
            }
            return it;
          };
        }
        return out;
      };
    }
  };
  emitter.init = function (this: object, ...args: unknown[]) {
    const proto = Object.getPrototypeOf(this) as Record<string, unknown>;
    if (this.constructor?.name === "LMDBStore" && !patched.has(proto)) patch(proto);
    return init.apply(this, args);
  };
  return {
    /** Environments seen so far (one per open). */
    environments: () => patched.size,
    async during<T>(fn: () => Promise<T>): Promise<{ result: T; reads: ReadCounts }> {
      const mine: ReadCounts = {};
      reads = mine;
      try {
        return { result: await fn(), reads: mine };
      } finally {
        reads = undefined;
      }
    },
    uninstall() {
      emitter.init = init;
      for (const [proto, originals] of patched) for (const [m, orig] of originals) proto[m] = orig;
    },
  };
}

const logReads = (reads: ReadCounts) => LOG_DBS.reduce((n, db) => n + (reads[db]?.calls ?? 0) + (reads[db]?.entries ?? 0), 0);

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const t = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - t };
}

// ---------------------------------------------------------------- the big wallet

describe(`a wallet holding ${COINS.toLocaleString("en")} coins`, () => {
  let root: string;
  let path: string;
  let w: Wallet;
  let counter: ReturnType<typeof lmdbReadCounter>;
  let expected: { balances: unknown; kudos: unknown; eur: unknown; conflicts: unknown };
  let eventCount = 0;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "coins-scale-"));
    path = join(root, "wallet");
    counter = lmdbReadCounter();
    w = await openWallet({ path, deviceId: "big" });
    await w.addExchange({ exchangeBaseUrl: EX_KUDOS });
    await w.addExchange({ exchangeBaseUrl: EX_EUR });
    const build = await timed(async () => {
      for (let b = 0; b < BATCHES; b++) {
        const [url, cur] = b % 2 === 0 ? [EX_KUDOS, "KUDOS"] : [EX_EUR, "EUR"];
        const coins = Array.from({ length: PER_BATCH }, (_, i) => ({
          coinPub: `coin-${b}-${i}`,
          denomPubHash: `denom-${i % 4}`,
          value: `${cur}:${1 + (i % 4)}.25`,
        }));
        // The last batch was instructed for more than it holds: one pending group.
        const amount = b === BATCHES - 1 ? { amount: `${cur}:${PER_BATCH * 10}` } : {};
        await w.recordWithdrawal({ exchangeBaseUrl: url, coins, ...amount });
      }
    });
    // A few spends, a refresh, and one double spend merged in from a second device.
    for (let i = 0; i < 50; i++) await w.recordSpend({ coinPub: `coin-0-${i}`, amount: "KUDOS:0.25" });
    await w.recordRefresh({ inputs: [{ coinPub: "coin-2-0", amount: "KUDOS:1" }], outputs: [{ coinPub: "refreshed-0", denomPubHash: "d", value: "KUDOS:0.9" }] });
    const otherDir = join(root, "other");
    const other = await openWallet({ path: otherDir, deviceId: "other" });
    await other.addExchange({ exchangeBaseUrl: EX_KUDOS });
    await other.recordWithdrawal({ exchangeBaseUrl: EX_KUDOS, coins: [{ coinPub: "shared-coin", denomPubHash: "d", value: "KUDOS:1" }] });
    await w.importEvents(await other.exportEvents());
    await w.recordSpend({ coinPub: "shared-coin", amount: "KUDOS:0.8", spendId: "big-spend" });
    await other.recordSpend({ coinPub: "shared-coin", amount: "KUDOS:0.7", spendId: "other-spend" });
    await w.importEvents(await other.exportEvents({ since: await w.getVectorClock() }));
    await other.close();
    rmSync(otherDir, { recursive: true, force: true });

    expected = {
      balances: await w.getBalances(),
      kudos: await w.getExchangeResources({ exchangeBaseUrl: EX_KUDOS }),
      eur: await w.getExchangeResources({ exchangeBaseUrl: EX_EUR }),
      conflicts: await w.listConflicts(),
    };
    eventCount = (await w.exportEvents()).length;
    console.log(
      `[coins-scale] built ${COINS} coins in ${BATCHES} withdrawals: ${build.ms.toFixed(0)} ms ` +
        `(${((build.ms * 1000) / COINS).toFixed(1)} µs/coin); ${eventCount} shared events in the log`,
    );
  });

  afterAll(async () => {
    counter?.uninstall();
    await w?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("holds what was built: balances, resources, the pending group and the conflict", () => {
    // Per batch of 1,000 coins: 250 each of 1.25, 2.25, 3.25 and 4.25 = 2,750.
    // KUDOS: 50 batches − 50×0.25 spent − 1 refreshed + 0.9 created + the double-spent coin counting 0.
    expect(expected.balances).toEqual({
      balances: [
        { currency: "EUR", available: "EUR:137500", pendingIncoming: "EUR:7250" },
        { currency: "KUDOS", available: "KUDOS:137487.4", pendingIncoming: "KUDOS:0" },
      ],
    });
    expect(expected.kudos).toEqual({ hasResources: true, coins: 50_001, withdrawalGroups: 0 });
    expect(expected.eur).toEqual({ hasResources: true, coins: 50_000, withdrawalGroups: 1 });
    expect(expected.conflicts).toEqual({ conflicts: [{ kind: "double-spend", coinPub: "shared-coin", spendIds: ["big-spend", "other-spend"] }] });
  });

  it("answers getBalances, getExchangeResources and listConflicts from a few records each, first call and every call", async () => {
    const queries: [string, () => Promise<unknown>][] = [
      ["getBalances", () => w.getBalances()],
      ["getExchangeResources", () => w.getExchangeResources({ exchangeBaseUrl: EX_EUR })],
      ["listConflicts", () => w.listConflicts()],
    ];
    for (const [name, q] of queries) {
      // Counts, not milliseconds: a query that read the 100,000 coins would show here on any machine.
      const first = await counter.during(() => timed(q));
      const samples: number[] = [];
      for (let i = 0; i < 50; i++) {
        const { result, reads } = await counter.during(() => timed(q));
        samples.push(result.ms);
        expect(logReads(reads)).toBe(0);
        expect((reads.proj?.calls ?? 0) + (reads.proj?.entries ?? 0)).toBeLessThan(20);
      }
      samples.sort((a, b) => a - b);
      console.log(
        `[coins-scale] ${name}: first ${first.result.ms.toFixed(3)} ms, median ${samples[samples.length >> 1].toFixed(3)} ms, max ${samples.at(-1)!.toFixed(3)} ms over 50 calls (timings for information; bench/ measures speed)`,
      );
      expect(logReads(first.reads)).toBe(0);
      expect((first.reads.proj?.calls ?? 0) + (first.reads.proj?.entries ?? 0)).toBeLessThan(20);
    }
  });

  it("reads no log event to answer them, and only a handful of projection records", async () => {
    const { result, reads } = await counter.during(async () => ({
      balances: await w.getBalances(),
      kudos: await w.getExchangeResources({ exchangeBaseUrl: EX_KUDOS }),
      eur: await w.getExchangeResources({ exchangeBaseUrl: EX_EUR }),
      conflicts: await w.listConflicts(),
    }));
    console.log("[coins-scale] LMDB reads during the four queries:", JSON.stringify(reads));
    expect(result).toEqual(expected);
    expect(logReads(reads)).toBe(0);
    // The counter watched this wallet's environment: it saw the projection reads.
    expect(reads.proj?.calls).toBeGreaterThan(0);
    // Not a scan of the 100,000 coin records either.
    expect(reads.proj?.calls ?? 0).toBeLessThan(20);
    expect(reads.proj?.entries ?? 0).toBeLessThan(20);
  });

  it("the read counter does see log reads when the log is read (control)", async () => {
    const { result, reads } = await counter.during(() => w.exportEvents());
    expect(result).toHaveLength(eventCount);
    expect(reads.log?.entries).toBe(eventCount);
  });

  it("reopens without replaying the log", async () => {
    await w.close();
    const reopened = await counter.during(() => timed(() => openWallet({ path })));
    w = reopened.result.result;
    console.log(
      `[coins-scale] reopen: ${reopened.result.ms.toFixed(1)} ms; LMDB reads while opening: ${JSON.stringify(reopened.reads)}`,
    );
    // Opening checks each device's chain head (its newest event, and that none lies beyond it):
    // a fixed number of reads per device, whatever the length of the history. Never a replay.
    const devices = Object.keys(await w.getVectorClock()).length;
    expect(logReads(reopened.reads)).toBeLessThanOrEqual(HEAD_CHECK_READS * devices);
    // The reopened environment was watched from its first read: it read its meta area.
    expect(reopened.reads.meta?.calls).toBeGreaterThan(0);
    // Opening reads a bounded number of meta and projection entries, not the 100,000 coins.
    const opened = Object.values(reopened.reads).reduce((n, r) => n + (r?.calls ?? 0) + (r?.entries ?? 0), 0);
    expect(opened).toBeLessThan(100);
    expect(await w.getBalances()).toEqual(expected.balances);
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX_EUR })).toEqual(expected.eur);
    expect(await w.listConflicts()).toEqual(expected.conflicts);
  });

  it("replays the log on reopen when the stored projection version differs, to the same answers (control)", async () => {
    const before = await w.dumpProjections();
    await w.close();
    // Pretend the projections were written by another engine version.
    const env = open({ path: join(path, "projections.mdb"), maxDbs: 12 });
    await env.openDB({ name: "meta", encoding: "binary" }).put("projectionVersion", sealJson(-1, "cache:projectionVersion"));
    await env.close();

    const reopened = await counter.during(() => timed(() => openWallet({ path })));
    w = reopened.result.result;
    console.log(`[coins-scale] reopen with a projection version change (full replay): ${reopened.result.ms.toFixed(0)} ms`);
    // The replay read every event of the log (a range per device, in causal order), besides the head check.
    const devices = Object.keys(await w.getVectorClock()).length;
    expect(reopened.reads.log?.entries).toBeGreaterThanOrEqual(eventCount);
    expect(reopened.reads.log?.entries).toBeLessThanOrEqual(eventCount + HEAD_CHECK_READS * devices);
    expect(await w.getBalances()).toEqual(expected.balances);
    expect(await w.listConflicts()).toEqual(expected.conflicts);
    expect(await w.dumpProjections()).toEqual(before);
  });
});

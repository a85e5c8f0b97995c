// Model-based and property tests of the event store, on real LMDB: random
// sequences of appends (single and batched), aborted batches, reopens and
// rebuilds must keep the log equal to what was appended, densely chained, and
// the materialized projections equal to a fold of the raw log.
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { WalletError } from "../src/errors.ts";
import type { KeysFactsData, SharedDraft } from "../src/events/catalogue.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { openStore, type Store } from "../src/events/store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { type CoinRecord, type GroupRecord } from "../src/projections/coins.ts";
import { formatAmount } from "../src/codec/amounts.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { tempDir } from "./support/temp-wallet.ts";
import { PROJECTIONS } from "../src/projections/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 50);
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const URLS = ["https://a.example/", "https://b.example/", "http://127.0.0.1:8081/", "https://c.example/sub/path/"];
const CURRENCIES = ["KUDOS", "TESTKUDOS"];
const KEYS: KeysFactsData = {
  currency: "KUDOS",
  masterPub: "MASTER",
  version: "23:0:6",
  reserveClosingDelayUs: 0,
  listIssueDate: 0,
  denominations: [],
  signkeys: [],
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// ---------------------------------------------------------------- random drafts

/** A draft in the making: indexes resolve against the coins and groups that exist when it is appended. */
type Spec =
  | { k: "added"; u: number; preset: boolean }
  | { k: "keys"; u: number }
  | { k: "failed"; u: number; code: string }
  | { k: "tos-offered"; u: number; etag: string }
  | { k: "tos-accepted"; u: number; etag: string }
  | { k: "tos-forgotten"; u: number }
  | { k: "suspended"; u: number; on: boolean }
  | { k: "deleted"; u: number; purge: boolean }
  | { k: "withdraw"; u: number; cur: number; values: number[]; amount: number | null }
  | { k: "spend"; c: number; cents: number; purchase: boolean }
  | { k: "refresh"; c: number; cents: number; outs: number[] }
  | { k: "abort"; g: number };

const u = fc.nat({ max: URLS.length - 1 });
const etag = fc.constantFrom("v1", "v2", "v3");
const cents = fc.integer({ min: 1, max: 2_000 });
const specArb: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({ k: fc.constant("added" as const), u, preset: fc.boolean() }),
  fc.record({ k: fc.constant("keys" as const), u }),
  fc.record({ k: fc.constant("failed" as const), u, code: fc.constantFrom("exchange-unreachable", "keys-invalid") }),
  fc.record({ k: fc.constant("tos-offered" as const), u, etag }),
  fc.record({ k: fc.constant("tos-accepted" as const), u, etag }),
  fc.record({ k: fc.constant("tos-forgotten" as const), u }),
  fc.record({ k: fc.constant("suspended" as const), u, on: fc.boolean() }),
  fc.record({ k: fc.constant("deleted" as const), u, purge: fc.boolean() }),
  fc.record({
    k: fc.constant("withdraw" as const),
    u,
    cur: fc.nat({ max: CURRENCIES.length - 1 }),
    values: fc.array(cents, { maxLength: 4 }),
    amount: fc.option(cents, { nil: null }),
  }),
  fc.record({ k: fc.constant("spend" as const), c: fc.nat(), cents: fc.integer({ min: 1, max: 800 }), purchase: fc.boolean() }),
  fc.record({ k: fc.constant("refresh" as const), c: fc.nat(), cents: fc.integer({ min: 1, max: 800 }), outs: fc.array(cents, { maxLength: 3 }) }),
  fc.record({ k: fc.constant("abort" as const), g: fc.nat() }),
);

const amt = (currency: string, c: number) => formatAmount({ currency, value: Math.floor(c / 100), fraction: (c % 100) * 1_000_000 });

/** What a resolver may reference: coins and withdrawal groups that exist, and a source of fresh ids. */
interface World {
  coins: { pub: string; currency: string; url: string }[];
  groups: string[];
  fresh(kind: string): string;
}

/** Turns a spec into a draft that is valid against `world`, and records what it creates. */
function resolve(spec: Spec, world: World): SharedDraft {
  const url = "u" in spec ? URLS[spec.u] : URLS[0];
  const withdraw = (cur: number, values: number[], amount: number | null): SharedDraft => {
    const currency = CURRENCIES[cur];
    const withdrawalGroupId = world.fresh("wg");
    const coins = values.map((v) => ({ coinPub: world.fresh("coin"), denomPubHash: `denom-${v}`, value: amt(currency, v) }));
    for (const c of coins) world.coins.push({ pub: c.coinPub, currency, url });
    world.groups.push(withdrawalGroupId);
    // A withdrawal without coins still needs an amount to know its currency.
    const a = amount ?? (coins.length === 0 ? 100 : null);
    return { type: "coins-withdrawn", data: { url, withdrawalGroupId, coins, ...(a === null ? {} : { amount: amt(currency, a) }) } };
  };
  switch (spec.k) {
    case "added":
      return { type: "exchange-added", data: { url, preset: spec.preset } };
    case "keys":
      return { type: "exchange-keys-fetched", data: { url, keys: KEYS } };
    case "failed":
      return { type: "exchange-update-failed", data: { url, code: spec.code, message: `failed: ${spec.code}` } };
    case "tos-offered":
      return { type: "exchange-tos-offered", data: { url, etag: spec.etag, languages: ["en"] } };
    case "tos-accepted":
      return { type: "exchange-tos-accepted", data: { url, etag: spec.etag } };
    case "tos-forgotten":
      return { type: "exchange-tos-forgotten", data: { url } };
    case "suspended":
      return { type: spec.on ? "exchange-suspended" : "exchange-unsuspended", data: { url } };
    case "deleted":
      return { type: "exchange-deleted", data: { url, purge: spec.purge } };
    case "withdraw":
      return withdraw(spec.cur, spec.values, spec.amount);
    case "spend": {
      if (world.coins.length === 0) return withdraw(0, [spec.cents], null);
      // Spends may exceed a coin's value: that is a double-spend conflict, which projections must fold too.
      const coin = world.coins[spec.c % world.coins.length];
      const data = { spendId: world.fresh("spend"), coinPub: coin.pub, amount: amt(coin.currency, spec.cents) };
      return { type: "coin-spent", data: spec.purchase ? { ...data, purchaseId: `p-${data.spendId}` } : data };
    }
    case "refresh": {
      if (world.coins.length === 0) return withdraw(0, [spec.cents], null);
      const coin = world.coins[spec.c % world.coins.length];
      const outputs = spec.outs.map((v) => ({ coinPub: world.fresh("coin"), denomPubHash: `denom-${v}`, value: amt(coin.currency, v) }));
      for (const o of outputs) world.coins.push({ pub: o.coinPub, currency: coin.currency, url: coin.url });
      return {
        type: "coins-refreshed",
        // A refresh gives out no more than it consumes (refused as event-inconsistent otherwise); it may still overspend its coin.
        data: { refreshGroupId: world.fresh("rg"), url: coin.url, inputs: [{ coinPub: coin.pub, amount: amt(coin.currency, Math.max(spec.cents, spec.outs.reduce((x, y) => x + y, 0))) }], outputs },
      };
    }
    case "abort":
      if (world.groups.length === 0) return withdraw(0, [], spec.g + 1);
      return { type: "withdrawal-group-aborted", data: { withdrawalGroupId: world.groups[spec.g % world.groups.length] } };
  }
}

function newWorld(prefix = ""): World {
  let n = 0;
  return { coins: [], groups: [], fresh: (kind) => `${prefix}${kind}-${++n}` };
}

function cloneWorld(w: World): World {
  return { coins: [...w.coins], groups: [...w.groups], fresh: w.fresh };
}

/** The world as a store's own projections see it: what a device may reference. */
function worldOf(s: Store, fresh: World["fresh"]): World {
  const coins = [...s.records.entries<CoinRecord>(["coin"])].map(({ value: c }) => ({ pub: c.coinPub, currency: c.currency, url: c.url }));
  const groups = [...s.records.entries<GroupRecord>(["wg"])].map(({ value: g }) => g.withdrawalGroupId);
  return { coins, groups, fresh };
}

// ---------------------------------------------------------------- checks

const hashOf = (e: WalletEvent) => encodeCrock(sha512(canonicalJson(e)));

function expectDenseChain(log: WalletEvent[], device: string) {
  const own = log.filter((e) => e.device === device).sort((a, b) => a.seq - b.seq);
  own.forEach((e, i) => {
    expect(e.seq).toBe(i + 1);
    expect(e.prev).toBe(i === 0 ? undefined : hashOf(own[i - 1]));
    expect(e.deps[device] ?? 0).toBe(i);
    if (i > 0) expect(e.lamport).toBeGreaterThan(own[i - 1].lamport);
  });
}

/** Rebuilds and says whether the fold of the raw log matched the incremental state. */
function expectRebuildEqual(s: Store) {
  const incremental = s.dumpRecords();
  s.rebuild();
  expect(s.dumpRecords()).toEqual(incremental);
}

async function openTempStore(deviceId: string): Promise<{ path: string; store: Store }> {
  const d = tempDir();
  const store = await openStore({ path: d.path, deviceId, projections: PROJECTIONS });
  cleanups.push(d.cleanup);
  return { path: d.path, store };
}

// ---------------------------------------------------------------- the model run

interface Model {
  drafts: { type: string; data: unknown }[];
  world: World;
}

interface Real {
  path: string;
  store: Store;
  deviceId: string;
  time: number;
}

function verify(m: Model, r: Real) {
  const log = exportFrom(r.store) as WalletEvent[];
  expect(log.map((e) => ({ type: e.type, data: e.data }))).toEqual(m.drafts);
  expect(r.store.clock()).toEqual(m.drafts.length === 0 ? {} : { [r.deviceId]: m.drafts.length });
  expect(r.store.eventCount()).toBe(m.drafts.length);
  expectDenseChain(log, r.deviceId);
  expectRebuildEqual(r.store);
}

const describeSpecs = (specs: Spec[]) => specs.map((s) => JSON.stringify(s)).join(", ");

class AppendOne implements fc.AsyncCommand<Model, Real> {
  constructor(readonly spec: Spec) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const d = resolve(this.spec, m.world);
    r.store.write((tx) => tx.appendOwn([d], ++r.time));
    m.drafts.push(d);
    verify(m, r);
  }
  toString = () => `appendOne(${JSON.stringify(this.spec)})`;
}

class AppendBatch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly specs: Spec[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const drafts = this.specs.map((s) => resolve(s, m.world));
    const out = r.store.write((tx) => tx.appendOwn(drafts, ++r.time));
    expect(out).toHaveLength(drafts.length);
    m.drafts.push(...drafts);
    verify(m, r);
  }
  toString = () => `appendBatch([${describeSpecs(this.specs)}])`;
}

class AbortedBatch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly specs: Spec[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const drafts = this.specs.map((s) => resolve(s, cloneWorld(m.world)));
    const dump = r.store.dumpRecords();
    expect(() =>
      r.store.write((tx) => {
        tx.appendOwn(drafts, ++r.time);
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(r.store.dumpRecords()).toEqual(dump);
    verify(m, r);
  }
  toString = () => `abortedBatch([${describeSpecs(this.specs)}])`;
}

class Reopen implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    const dump = r.store.dumpRecords();
    await r.store.close();
    r.store = await openStore({ path: r.path, projections: PROJECTIONS });
    expect(r.store.deviceId).toBe(r.deviceId);
    expect(r.store.dumpRecords()).toEqual(dump);
    verify(m, r);
  }
  toString = () => "reopen";
}

class Rebuild implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    const dump = r.store.dumpRecords();
    r.store.rebuild();
    expect(r.store.dumpRecords()).toEqual(dump);
    verify(m, r);
  }
  toString = () => "rebuild";
}

const commandsArb = fc.commands(
  [
    specArb.map((s) => new AppendOne(s)),
    fc.array(specArb, { minLength: 1, maxLength: 8 }).map((ss) => new AppendBatch(ss)),
    fc.array(specArb, { minLength: 1, maxLength: 4 }).map((ss) => new AbortedBatch(ss)),
    fc.constant(new Reopen()),
    fc.constant(new Rebuild()),
  ],
  { maxCommands: 25 },
);

describe("the event store against a model", () => {
  it("log, clock and projections follow the model through appends, aborted batches, reopens and rebuilds", async () => {
    await fc.assert(
      fc.asyncProperty(commandsArb, async (cmds) => {
        const { path, store } = await openTempStore("dev-m");
        const real: Real = { path, store, deviceId: "dev-m", time: T0 };
        try {
          await fc.asyncModelRun(() => ({ model: { drafts: [], world: newWorld() }, real }), cmds);
        } finally {
          await real.store.close();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------- properties

describe("store properties", () => {
  it("append/read round-trips any valid event sequence, whatever the batch split", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(specArb, { maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 }),
        async (specs, splits) => {
          const { store: s } = await openTempStore("dev-r");
          try {
            const world = newWorld();
            const drafts = specs.map((sp) => resolve(sp, world));
            const written: WalletEvent[] = [];
            for (let i = 0, b = 0; i < drafts.length; b++) {
              const n = splits[b % splits.length];
              const batch = drafts.slice(i, i + n);
              written.push(...(s.write((tx) => tx.appendOwn(batch, T0 + b)) as WalletEvent[]));
              i += n;
            }
            const log = exportFrom(s) as WalletEvent[];
            expect(log).toEqual(written);
            expect(log.map((e) => ({ type: e.type, data: e.data }))).toEqual(drafts);
            for (const e of log) expect(s.getEvent(e.device, e.seq)).toEqual(e);
            expectDenseChain(log, "dev-r");
            expectRebuildEqual(s);
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  type Op = { k: "local"; dev: number; specs: Spec[] } | { k: "sync"; from: number; to: number };
  const DEVICES = ["dev-x", "dev-y", "dev-z"];
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ k: fc.constant("local" as const), dev: fc.nat({ max: 2 }), specs: fc.array(specArb, { minLength: 1, maxLength: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("sync" as const), from: fc.nat({ max: 2 }), to: fc.nat({ max: 2 }) }) },
  );

  it("incremental projection equals rebuild on random multi-device histories", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        const stores = await Promise.all(DEVICES.map(async (d) => (await openTempStore(d)).store));
        const fresh = DEVICES.map((d) => newWorld(`${d}-`).fresh);
        try {
          ops.forEach((op, i) => {
            if (op.k === "local") {
              const s = stores[op.dev];
              const world = worldOf(s, fresh[op.dev]);
              const drafts = op.specs.map((sp) => resolve(sp, world));
              s.write((tx) => tx.appendOwn(drafts, T0 + i));
            } else if (op.from !== op.to) {
              const events = exportFrom(stores[op.from], stores[op.to].clock());
              stores[op.to].write((tx) => importInto(tx, events));
            }
          });
          for (const s of stores) {
            const log = exportFrom(s) as WalletEvent[];
            for (const d of DEVICES) expectDenseChain(log, d);
            expect(s.eventCount()).toBe(log.length);
            expectRebuildEqual(s);
          }
        } finally {
          for (const s of stores) await s.close();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("a batch that fails validation anywhere appends nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(specArb, { minLength: 1, maxLength: 10 }), fc.nat(), async (specs, at) => {
        const { store: s } = await openTempStore("dev-v");
        try {
          const world = newWorld();
          const good = specs.map((sp) => resolve(sp, world));
          s.write((tx) => tx.appendOwn([{ type: "exchange-added", data: { url: URLS[0], preset: true } }], T0));
          const dump = s.dumpRecords();
          const bad = [...good];
          bad.splice(at % (bad.length + 1), 0, { type: "exchange-added", data: { url: "not a url", preset: false } });
          let err: unknown;
          try {
            s.write((tx) => tx.appendOwn(bad, T0 + 1));
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(WalletError);
          expect((err as WalletError).code).toBe("event-invalid");
          expect(s.clock()).toEqual({ "dev-v": 1 });
          expect(s.dumpRecords()).toEqual(dump);
        } finally {
          await s.close();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

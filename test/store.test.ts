// The event store and the wallet foundation on it: identity across reopen, the
// envelope of every event (dense seq, hash chain, deps, lamport), reads by dot,
// range and clock, device-local events, refusal of damaged or foreign
// directories, rebuild, and all-or-nothing write transactions.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { WalletError } from "../src/errors.ts";
import type { SharedDraft } from "../src/events/catalogue.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { openStore, type Store } from "../src/events/store.ts";
import { exportFrom } from "../src/merge/log-merge.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { tempDir, tempWallet } from "./support/temp-wallet.ts";
import { PROJECTIONS } from "../src/projections/index.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const EX_A = "https://a.example/";
const EX_B = "https://b.example/";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function dir(): string {
  const d = tempDir();
  cleanups.push(d.cleanup);
  return d.path;
}

async function store(path: string, deviceId?: string): Promise<Store> {
  const s = await openStore({ path, deviceId, projections: PROJECTIONS });
  cleanups.push(() => s.close());
  return s;
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<WalletError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(WalletError);
    return e as WalletError;
  }
  throw new Error("expected a WalletError, but the call succeeded");
}

const hashOf = (e: WalletEvent) => encodeCrock(sha512(canonicalJson(e)));

/** The invariants every device's log keeps: seq dense from 1, prev chains, deps include the own predecessor. */
function expectChained(events: WalletEvent[], device: string) {
  const own = events.filter((e) => e.device === device).sort((a, b) => a.seq - b.seq);
  own.forEach((e, i) => {
    expect(e.seq).toBe(i + 1);
    if (i === 0) expect(e.prev).toBeUndefined();
    else expect(e.prev).toBe(hashOf(own[i - 1]));
    expect(e.deps[device] ?? 0).toBe(e.seq - 1);
  });
}

/** A wallet with exchanges, ToS, coins and a spend: projections worth comparing. */
async function populate(w: Wallet) {
  await w.addExchange({ exchangeBaseUrl: EX_A });
  await w.addExchange({ exchangeBaseUrl: EX_B, preset: true });
  await w.setExchangeTosAccepted({ exchangeBaseUrl: EX_A, etag: "tos-v1" });
  await w.recordWithdrawal({
    exchangeBaseUrl: EX_A,
    withdrawalGroupId: "wg-1",
    amount: "KUDOS:10",
    coins: [
      { coinPub: "coin-1", denomPubHash: "denom-5", value: "KUDOS:5" },
      { coinPub: "coin-2", denomPubHash: "denom-1", value: "KUDOS:1" },
    ],
  });
  await w.recordSpend({ coinPub: "coin-1", amount: "KUDOS:1.5", spendId: "spend-1" });
  await w.setExchangeSuspended({ exchangeBaseUrl: EX_B, suspended: true });
}

const draftAdded = (i: number): SharedDraft => ({ type: "exchange-added", data: { url: `https://ex${i}.example/`, preset: false } });

describe("reopening a wallet", () => {
  it("gives the same device id, root key, log and state", async () => {
    const path = dir();
    const w1 = await openWallet({ path, now: () => NOW });
    await populate(w1);
    const before = {
      deviceId: w1.deviceId,
      walletRootPub: w1.walletRootPub,
      log: await w1.exportEvents(),
      clock: await w1.getVectorClock(),
      exchanges: await w1.listExchanges(),
      balances: await w1.getBalances(),
      dump: await w1.dumpProjections(),
    };
    await w1.close();
    const w2 = await openWallet({ path, now: () => NOW });
    cleanups.push(() => w2.close());
    expect(w2.deviceId).toBe(before.deviceId);
    expect(w2.walletRootPub).toBe(before.walletRootPub);
    expect(w2.walletRootPub).toHaveLength(52);
    expect(await w2.exportEvents()).toEqual(before.log);
    expect(await w2.getVectorClock()).toEqual(before.clock);
    expect(await w2.listExchanges()).toEqual(before.exchanges);
    expect(await w2.getBalances()).toEqual(before.balances);
    expect(await w2.dumpProjections()).toEqual(before.dump);
    expect(before.balances.balances).toEqual([{ currency: "KUDOS", available: "KUDOS:4.5", pendingIncoming: "KUDOS:4" }]);
  });

  it("continues the chain after reopen: the next event has the next seq and chains to the last one", async () => {
    const path = dir();
    const w1 = await openWallet({ path, now: () => NOW });
    await w1.addExchange({ exchangeBaseUrl: EX_A });
    await w1.close();
    const w2 = await openWallet({ path, now: () => NOW });
    cleanups.push(() => w2.close());
    await w2.addExchange({ exchangeBaseUrl: EX_B });
    const log = await w2.exportEvents();
    expect(log.map((e) => e.seq)).toEqual([1, 2]);
    expectChained(log, w2.deviceId);
  });

  it("two new wallets get different device ids and root keys", async () => {
    const a = await tempWallet();
    const b = await tempWallet();
    cleanups.push(a.cleanup, b.cleanup);
    expect(a.wallet.deviceId).not.toBe(b.wallet.deviceId);
    expect(a.wallet.walletRootPub).not.toBe(b.wallet.walletRootPub);
  });
});

describe("device id option", () => {
  it("names a new wallet and is accepted again on reopen", async () => {
    const path = dir();
    const w1 = await openWallet({ path, deviceId: "phone-1" });
    expect(w1.deviceId).toBe("phone-1");
    await w1.close();
    const w2 = await openWallet({ path, deviceId: "phone-1" });
    expect(w2.deviceId).toBe("phone-1");
    await w2.close();
  });

  it("refuses a reopen under another device id with wallet-device-mismatch", async () => {
    const path = dir();
    const w1 = await openWallet({ path, deviceId: "phone-1" });
    await w1.addExchange({ exchangeBaseUrl: EX_A });
    await w1.close();
    expect((await rejection(openWallet({ path, deviceId: "laptop-2" }))).code).toBe("wallet-device-mismatch");
    // The refusal did not damage or re-key the wallet.
    const w2 = await openWallet({ path });
    cleanups.push(() => w2.close());
    expect(w2.deviceId).toBe("phone-1");
    expect(await w2.getVectorClock()).toEqual({ "phone-1": 1 });
  });

  it.each(["", "has space", "dot.ted", "ü", "x".repeat(65)])("refuses the invalid device id %j with device-id-invalid", async (id) => {
    const path = dir();
    expect((await rejection(openWallet({ path, deviceId: id }))).code).toBe("device-id-invalid");
    // Nothing was initialised: a later open with a valid id creates the wallet.
    const w = await openWallet({ path, deviceId: "ok-id" });
    expect(w.deviceId).toBe("ok-id");
    await w.close();
  });
});

describe("openWallet's options", () => {
  it.each<[string, unknown]>([
    ["a number", 7],
    ["a BigInt", 7n],
    ["a path separator", "a/b"],
  ])("a device id that is %s is device-id-invalid before any directory is made", async (_, deviceId) => {
    const path = join(dir(), "not-yet");
    expect((await rejection(openWallet({ path, deviceId: deviceId as string }))).code).toBe("device-id-invalid");
    expect(existsSync(path)).toBe(false);
  });

  it.each<[string, Record<string, unknown>]>([
    ["a schedule that is no object", { schedule: "hourly" }],
    ["an unknown schedule field", { schedule: { refreshEveryMs: 1000 } }],
    ["a negative retry base", { schedule: { retryBaseMs: -1 } }],
    ["a fractional refresh interval", { schedule: { refreshIntervalMs: 0.5 } }],
    ["an HTTP timeout beyond Node's timers", { httpTimeoutMs: 2 ** 31 }],
    ["an HTTP timeout of 0 (every request would time out at once)", { httpTimeoutMs: 0 }],
  ])("%s is request-invalid, and no wallet is made", async (_, extra) => {
    const path = join(dir(), "not-yet");
    expect((await rejection(openWallet({ path, ...extra }))).code).toBe("request-invalid");
    expect(existsSync(path)).toBe(false);
  });

  it("a partial schedule and the longest timer Node holds are accepted", async () => {
    const w = await openWallet({ path: dir(), schedule: { retryBaseMs: 5 }, httpTimeoutMs: 2 ** 31 - 1 });
    await w.close();
  });
});

describe("the vector clock", () => {
  it("is empty for a new wallet and counts this device's shared events", async () => {
    const { wallet: w, cleanup } = await tempWallet();
    cleanups.push(cleanup);
    expect(await w.getVectorClock()).toEqual({});
    await populate(w);
    const n = (await w.exportEvents()).length;
    expect(n).toBe(6);
    expect(await w.getVectorClock()).toEqual({ [w.deviceId]: n });
  });

  it("does not move on a request that decides no event (adding an exchange again)", async () => {
    const { wallet: w, cleanup } = await tempWallet();
    cleanups.push(cleanup);
    await w.addExchange({ exchangeBaseUrl: EX_A });
    await w.addExchange({ exchangeBaseUrl: EX_A });
    await w.addExchange({ exchangeBaseUrl: "A.EXAMPLE" });
    expect(await w.getVectorClock()).toEqual({ [w.deviceId]: 1 });
  });

  it("includes imported devices' events", async () => {
    const a = await tempWallet({ deviceId: "dev-a" });
    const b = await tempWallet({ deviceId: "dev-b" });
    cleanups.push(a.cleanup, b.cleanup);
    await populate(b.wallet);
    await a.wallet.addExchange({ exchangeBaseUrl: "https://c.example/" });
    expect(await a.wallet.importEvents(await b.wallet.exportEvents())).toEqual({ added: 6, known: 0 });
    expect(await a.wallet.getVectorClock()).toEqual({ "dev-a": 1, "dev-b": 6 });
  });
});

describe("the envelope of appended events", () => {
  it("has seq dense from 1 and prev = Crockford SHA-512 of the canonical JSON of the previous event", async () => {
    const { wallet: w, cleanup } = await tempWallet({ now: () => NOW });
    cleanups.push(cleanup);
    await populate(w);
    const log = await w.exportEvents();
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log[0].prev).toBeUndefined();
    for (let i = 1; i < log.length; i++) {
      expect(log[i].prev).toBe(encodeCrock(sha512(canonicalJson(log[i - 1]))));
      expect(log[i].prev).toHaveLength(103);
    }
    expect(log.every((e) => e.device === w.deviceId && e.time === NOW)).toBe(true);
  });

  it("has deps equal to the clock before the append and lamport above everything seen", async () => {
    const a = await tempWallet({ deviceId: "dev-a" });
    const b = await tempWallet({ deviceId: "dev-b" });
    cleanups.push(a.cleanup, b.cleanup);
    await populate(b.wallet); // b's lamports run 1..6
    await a.wallet.addExchange({ exchangeBaseUrl: "https://c.example/" });
    await a.wallet.importEvents(await b.wallet.exportEvents());
    const clockBefore = await a.wallet.getVectorClock();
    await a.wallet.addExchange({ exchangeBaseUrl: "https://d.example/" });
    await a.wallet.addExchange({ exchangeBaseUrl: "https://e.example/" });
    const own = (await a.wallet.exportEvents()).filter((e) => e.device === "dev-a");
    expect(own.map((e) => [e.seq, e.lamport, e.deps])).toEqual([
      [1, 1, {}],
      [2, 7, clockBefore],
      [3, 8, { "dev-a": 2, "dev-b": 6 }],
    ]);
    expectChained(own, "dev-a");
  });

  it("orders every device's events strictly by lamport in export", async () => {
    const { wallet: w, cleanup } = await tempWallet();
    cleanups.push(cleanup);
    await populate(w);
    const lamports = (await w.exportEvents()).map((e) => e.lamport);
    for (let i = 1; i < lamports.length; i++) expect(lamports[i]).toBeGreaterThan(lamports[i - 1]);
  });
});

describe("reading the log", () => {
  it("reads one event by its dot, and nothing for a dot never written", async () => {
    const s = await store(dir(), "dev");
    const written = s.write((tx) => tx.appendOwn([draftAdded(1), draftAdded(2), draftAdded(3)], NOW));
    expect(s.getEvent("dev", 2)).toEqual(written[1]);
    expect(s.getEvent("dev", 2)?.data).toEqual({ url: "https://ex2.example/", preset: false });
    expect(s.getEvent("dev", 4)).toBeUndefined();
    expect(s.getEvent("other", 1)).toBeUndefined();
    expect(s.head("dev")).toEqual({ seq: 3, hash: hashOf(written[2] as WalletEvent), lamport: 3 });
    expect(s.eventCount()).toBe(3);
  });

  it("reads a device's seq range inclusively, and to its end without an upper bound", async () => {
    const s = await store(dir(), "dev");
    s.write((tx) => tx.appendOwn(Array.from({ length: 12 }, (_, i) => draftAdded(i + 1)), NOW));
    expect([...s.rangeOfDevice("dev", 3, 5)].map((e) => e.seq)).toEqual([3, 4, 5]);
    expect([...s.rangeOfDevice("dev", 10)].map((e) => e.seq)).toEqual([10, 11, 12]);
    expect([...s.rangeOfDevice("dev", 13)]).toEqual([]);
    expect([...s.rangeOfDevice("nobody", 1)]).toEqual([]);
    // Numeric, not lexicographic: seq 10..12 come after 9, not after 1.
    expect([...s.rangeOfDevice("dev", 1)].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("exports exactly the events after a given clock", async () => {
    const a = await tempWallet({ deviceId: "dev-a" });
    const b = await tempWallet({ deviceId: "dev-b" });
    cleanups.push(a.cleanup, b.cleanup);
    await populate(b.wallet);
    await a.wallet.importEvents(await b.wallet.exportEvents());
    await a.wallet.addExchange({ exchangeBaseUrl: "https://c.example/" });
    const all = await a.wallet.exportEvents();
    const mid = await a.wallet.getVectorClock();
    await a.wallet.addExchange({ exchangeBaseUrl: "https://d.example/" });
    await a.wallet.setExchangeTosAccepted({ exchangeBaseUrl: "https://d.example/", etag: "t" });
    const after = await a.wallet.exportEvents({ since: mid });
    expect(after.map((e) => [e.device, e.seq])).toEqual([
      ["dev-a", 2],
      ["dev-a", 3],
    ]);
    expect(await a.wallet.exportEvents({ since: {} })).toEqual([...all, ...after]);
    expect(await a.wallet.exportEvents({ since: await a.wallet.getVectorClock() })).toEqual([]);
    // A partial clock: only b's first two events are known to the caller.
    const partial = await a.wallet.exportEvents({ since: { "dev-b": 2 } });
    expect(partial.map((e) => `${e.device}:${e.seq}`).sort()).toEqual(
      ["dev-a:1", "dev-a:2", "dev-a:3", "dev-b:3", "dev-b:4", "dev-b:5", "dev-b:6"].sort(),
    );
    // A clock ahead of what we hold exports nothing for that device.
    expect(await a.wallet.exportEvents({ since: { "dev-a": 99, "dev-b": 99 } })).toEqual([]);
  });

  it("lists shared events in arrival order and local events in their own sequence", async () => {
    const s = await store(dir(), "dev");
    s.write((tx) => {
      tx.appendOwn([draftAdded(1)], NOW);
      tx.appendLocal({ type: "exchange-update-attempted", data: { url: "https://ex1.example/" } }, NOW);
      tx.appendOwn([draftAdded(2)], NOW);
    });
    expect([...s.eventsInCausalOrder()].map((e) => e.seq)).toEqual([1, 2]);
    expect([...s.localEvents()]).toEqual([{ n: 1, time: NOW, type: "exchange-update-attempted", data: { url: "https://ex1.example/" } }]);
  });
});

describe("device-local events", () => {
  let ex: TestExchange;
  beforeAll(async () => {
    ex = await startTestExchange({ now: () => NOW });
  });
  afterEach(() => ex.reset());
  afterAll(() => ex.close());

  it("an exchange update records local attempted/settled events that are never exported and never move the clock", async () => {
    const path = dir();
    const w = await openWallet({ path, now: () => NOW });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const ok = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(ok.exchangeUpdateStatus).toBe("ready");
    ex.setFault({ kind: "http-500", path: "keys" });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl, force: true });
    const log = await w.exportEvents();
    const types = log.map((e) => e.type);
    expect(types).not.toContain("exchange-update-attempted");
    expect(types).not.toContain("exchange-update-settled");
    expect(types).toContain("exchange-keys-fetched");
    expect(types).toContain("exchange-update-failed");
    expect(await w.getVectorClock()).toEqual({ [w.deviceId]: log.length });
    expectChained(log, w.deviceId);
    const dump = await w.dumpProjections();
    await w.close();

    const s = await store(path);
    const local = [...s.localEvents()];
    expect(local.map((e) => [e.n, e.type, "url" in e.data ? e.data.url : undefined])).toEqual([
      [1, "exchange-update-attempted", ex.baseUrl],
      [2, "exchange-update-settled", ex.baseUrl],
      [3, "exchange-update-attempted", ex.baseUrl],
      [4, "exchange-update-settled", ex.baseUrl],
    ]);
    expect(s.eventCount()).toBe(log.length);
    expect(exportFrom(s)).toEqual(log);
    // The local projection (update bookkeeping) survives a rebuild too.
    s.rebuild();
    expect(s.dumpRecords()).toEqual(dump);
    expect(dump.some((r) => r.key[0] === "upd")).toBe(true);
  });

  it("appending a local event leaves the shared log, clock and event count alone", async () => {
    const s = await store(dir(), "dev");
    s.write((tx) => tx.appendOwn([draftAdded(1)], NOW));
    const head = s.head("dev");
    for (let i = 0; i < 5; i++) {
      s.write((tx) => tx.appendLocal({ type: "exchange-update-attempted", data: { url: "https://ex1.example/" } }, NOW));
    }
    expect(s.clock()).toEqual({ dev: 1 });
    expect(s.head("dev")).toEqual(head);
    expect(s.eventCount()).toBe(1);
    expect([...s.localEvents()].map((e) => e.n)).toEqual([1, 2, 3, 4, 5]);
    const next = s.write((tx) => tx.appendOwn([draftAdded(2)], NOW))[0];
    expect(next.seq).toBe(2);
    expect(next.lamport).toBe(2);
    expect(next.deps).toEqual({ dev: 1 });
  });

  it("a local type cannot be appended as a shared event, nor a shared one as local", async () => {
    const s = await store(dir(), "dev");
    const asShared = { type: "exchange-update-attempted", data: { url: "https://ex1.example/" } } as unknown as SharedDraft;
    expect(() => s.write((tx) => tx.appendOwn([asShared], NOW))).toThrow(expect.objectContaining({ code: "event-invalid" }));
    expect(() =>
      s.write((tx) => tx.appendLocal({ type: "exchange-added", data: { url: "https://ex1.example/", preset: false } } as never, NOW)),
    ).toThrow(expect.objectContaining({ code: "event-invalid" }));
    expect(s.eventCount()).toBe(0);
    expect([...s.localEvents()]).toEqual([]);
  });
});

describe("opening a directory that is not a healthy wallet", () => {
  const expectStoreError = async (path: string, code?: string) => {
    const e = await rejection(openWallet({ path }));
    expect(e.code).toMatch(/^store-/);
    if (code) expect(e.code).toBe(code);
    return e;
  };

  it("refuses a data file of garbage bytes with store-corrupt (and does not crash the process)", async () => {
    const path = dir();
    const bytes = new Uint8Array(64 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
    writeFileSync(join(path, "wallet.mdb"), bytes);
    await expectStoreError(path, "store-corrupt");
  });

  it.each([
    ["a short text", Buffer.from("definitely not a database")],
    ["all zeros", Buffer.alloc(32 * 1024)],
  ])("refuses a data file of %s with store-corrupt", async (_, bytes) => {
    const path = dir();
    writeFileSync(join(path, "wallet.mdb"), bytes);
    await expectStoreError(path, "store-corrupt");
  });

  it.each([
    ["cut to its first page", (b: Buffer) => b.subarray(0, 4096)],
    ["cut in half", (b: Buffer) => b.subarray(0, b.length / 2)],
    ["with its second meta page overwritten", (b: Buffer) => Buffer.concat([b.subarray(0, 4096), Buffer.alloc(b.length - 4096, 0xab)])],
  ])("refuses a copy of a real wallet %s with a store-* error", async (_, damage) => {
    const src = dir();
    const w = await openWallet({ path: src });
    for (let i = 0; i < 100; i++) await w.addExchange({ exchangeBaseUrl: `https://ex${i}.example/` });
    await w.close();
    const real = readFileSync(join(src, "wallet.mdb"));
    expect(real.length).toBeGreaterThanOrEqual(4 * 4096);
    const path = dir();
    writeFileSync(join(path, "wallet.mdb"), damage(real));
    await expectStoreError(path);
  });

  it("refuses an LMDB store of someone else (an unrelated key) with store-foreign", async () => {
    const path = dir();
    const env = open({ path: join(path, "wallet.mdb") });
    await env.put("unrelated", { hello: "world" });
    await env.close();
    await expectStoreError(path, "store-foreign");
    // Refusing did not adopt it: the data is intact and a second open refuses again.
    const again = open({ path: join(path, "wallet.mdb") });
    expect(again.get("unrelated")).toEqual({ hello: "world" });
    await again.close();
    await expectStoreError(path, "store-foreign");
  });

  it("refuses an LMDB store with someone else's named database with store-foreign", async () => {
    const path = dir();
    const env = open({ path: join(path, "wallet.mdb") });
    await env.openDB({ name: "users" }).put("alice", 1);
    await env.close();
    await expectStoreError(path, "store-foreign");
  });

  it("refuses a path that is a regular file with store-open-failed", async () => {
    const file = join(dir(), "not-a-dir");
    writeFileSync(file, "x");
    await expectStoreError(file, "store-open-failed");
  });

  it("refuses a path below a regular file with store-open-failed", async () => {
    const file = join(dir(), "not-a-dir");
    writeFileSync(file, "x");
    await expectStoreError(join(file, "wallet"), "store-open-failed");
  });

  it("opens an empty data file as a new wallet", async () => {
    const path = dir();
    writeFileSync(join(path, "wallet.mdb"), Buffer.alloc(0));
    const w = await openWallet({ path });
    await w.addExchange({ exchangeBaseUrl: EX_A });
    expect(await w.getVectorClock()).toEqual({ [w.deviceId]: 1 });
    await w.close();
  });
});

describe("rebuild", () => {
  it("leaves dumpProjections identical, for shared and local state", async () => {
    const a = await tempWallet({ deviceId: "dev-a", now: () => NOW });
    const b = await tempWallet({ deviceId: "dev-b", now: () => NOW });
    cleanups.push(a.cleanup, b.cleanup);
    await populate(b.wallet);
    await a.wallet.addExchange({ exchangeBaseUrl: EX_A });
    await a.wallet.importEvents(await b.wallet.exportEvents());
    await a.wallet.recordSpend({ coinPub: "coin-2", amount: "KUDOS:0.25", spendId: "spend-2" });
    await a.wallet.addExchange({ exchangeBaseUrl: "https://gone.example/" });
    await a.wallet.deleteExchange({ exchangeBaseUrl: "https://gone.example/" });
    const before = await a.wallet.dumpProjections();
    expect(before.length).toBeGreaterThan(5);
    await a.wallet.rebuild();
    expect(await a.wallet.dumpProjections()).toEqual(before);
    await a.wallet.rebuild();
    expect(await a.wallet.dumpProjections()).toEqual(before);
  });

  it("restores projection records that were damaged", async () => {
    const s = await store(dir(), "dev");
    s.write((tx) => tx.appendOwn([draftAdded(1), draftAdded(2)], NOW));
    const good = s.dumpRecords();
    s.write((tx) => {
      tx.records.remove(good[0].key);
      // Records are typed: damage them with a record of the right shape in the wrong place.
      tx.records.put(["ex", "https://bogus.example/"], tx.records.get(good[1].key));
    });
    expect(s.dumpRecords()).not.toEqual(good);
    s.rebuild();
    expect(s.dumpRecords()).toEqual(good);
  });
});

describe("write transactions", () => {
  it("appends a batch of many drafts in one transaction, densely chained", async () => {
    const s = await store(dir(), "dev");
    const out = s.write((tx) => tx.appendOwn(Array.from({ length: 200 }, (_, i) => draftAdded(i)), NOW));
    expect(out).toHaveLength(200);
    const log = exportFrom(s) as WalletEvent[];
    expect(log).toEqual(out);
    expectChained(log, "dev");
    expect(s.clock()).toEqual({ dev: 200 });
  });

  it("a write that throws after appending leaves log, projections, clock and caches unchanged", async () => {
    const path = dir();
    const s = await store(path, "dev");
    s.write((tx) => tx.appendOwn([draftAdded(1), draftAdded(2)], NOW));
    const log = exportFrom(s);
    const dump = s.dumpRecords();
    const head = s.head("dev");
    expect(() =>
      s.write((tx) => {
        tx.appendOwn(Array.from({ length: 50 }, (_, i) => draftAdded(100 + i)), NOW);
        tx.appendLocal({ type: "exchange-update-attempted", data: { url: "https://ex100.example/" } }, NOW);
        expect(tx.clock()).toEqual({ dev: 52 }); // the transaction saw its own appends …
        throw new Error("boom");
      }),
    ).toThrow("boom");
    // … and none of it outlived the abort, in LMDB or in memory.
    expect(exportFrom(s)).toEqual(log);
    expect(s.dumpRecords()).toEqual(dump);
    expect(s.clock()).toEqual({ dev: 2 });
    expect(s.head("dev")).toEqual(head);
    expect(s.eventCount()).toBe(2);
    expect([...s.localEvents()]).toEqual([]);
    expect(s.getEvent("dev", 3)).toBeUndefined();
    // The next append continues from the committed head, not the aborted one.
    const next = s.write((tx) => tx.appendOwn([draftAdded(3)], NOW))[0];
    expect([next.seq, next.lamport, next.prev]).toEqual([3, 3, head!.hash]);
    const local = s.write((tx) => tx.appendLocal({ type: "exchange-update-attempted", data: { url: "https://ex3.example/" } }, NOW));
    expect(local.n).toBe(1);
    expectChained(exportFrom(s) as WalletEvent[], "dev");
  });

  it("a batch whose later draft is invalid writes none of its drafts", async () => {
    const s = await store(dir(), "dev");
    const bad = { type: "exchange-added", data: { url: "ftp://x/", preset: false } } as SharedDraft;
    const e = (() => {
      try {
        s.write((tx) => tx.appendOwn([draftAdded(1), draftAdded(2), bad], NOW));
      } catch (err) {
        return err as WalletError;
      }
    })();
    expect(e).toBeInstanceOf(WalletError);
    expect(e!.code).toBe("event-invalid");
    expect(s.eventCount()).toBe(0);
    expect(s.dumpRecords()).toEqual([]);
  });

  it("a batch whose later draft breaks a projection invariant (spend of an unknown coin) writes nothing", async () => {
    const s = await store(dir(), "dev");
    const drafts: SharedDraft[] = [
      draftAdded(1),
      { type: "coins-withdrawn", data: { url: "https://ex1.example/", withdrawalGroupId: "g", coins: [{ coinPub: "c1", denomPubHash: "d", value: "KUDOS:1" }] } },
      { type: "coin-spent", data: { spendId: "s", coinPub: "no-such-coin", amount: "KUDOS:1" } },
    ];
    expect(() => s.write((tx) => tx.appendOwn(drafts, NOW))).toThrow(expect.objectContaining({ code: "event-inconsistent" }));
    expect(s.eventCount()).toBe(0);
    expect(s.dumpRecords()).toEqual([]);
  });

  it("a write inside a write is refused with store-reentrant", async () => {
    const s = await store(dir(), "dev");
    expect(() => s.write(() => s.write(() => 1))).toThrow(expect.objectContaining({ code: "store-reentrant" }));
    expect(s.write(() => 2)).toBe(2);
  });

  it("committed batches survive close and reopen of the store", async () => {
    const path = dir();
    const s1 = await openStore({ path, deviceId: "dev", projections: PROJECTIONS });
    s1.write((tx) => tx.appendOwn(Array.from({ length: 30 }, (_, i) => draftAdded(i)), NOW));
    const log = exportFrom(s1);
    const dump = s1.dumpRecords();
    await s1.close();
    const s2 = await store(path);
    expect(s2.deviceId).toBe("dev");
    expect(exportFrom(s2)).toEqual(log);
    expect(s2.dumpRecords()).toEqual(dump);
    expect(s2.clock()).toEqual({ dev: 30 });
  });
});

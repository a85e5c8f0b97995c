// Issue 13, failure 3: built-in property names broke state. Device ids
// constructor, toString, hasOwnProperty, valueOf pass the id pattern, and with
// deviceId "constructor" addExchange succeeded while listExchanges showed
// nothing and exportEvents() returned 0 events; __proto__ failed with an immer
// TypeError; deps naming constructor:5 threw a TypeError instead of
// import-missing-deps; spendId "constructor" was refused as a duplicate; an
// extra data field named constructor passed the unknown-field check; a JSON
// "__proto__" key in data was hashed, then stored as something else, so sync
// with that device broke for good. Now every record keyed by an outside string
// is a Map or a null-prototype object, payload schemas look at own properties,
// and __proto__ is no device id.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { PROJECTIONS } from "../src/projections/index.ts";
import type { SharedDraft } from "../src/events/catalogue.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { openStore, type Store } from "../src/events/store.ts";
import { exportFrom } from "../src/merge/log-merge.ts";
import { WalletError } from "../src/errors.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";
import { sharedRecords } from "../src/testing/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 60);
const EX = "https://ex.example/";
const NOW = Date.UTC(2025, 0, 15);
/** Names every plain object answers for without holding them. */
const BUILTIN_NAMES = ["constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__defineGetter__", "__lookupSetter__"];
const DANGEROUS_KEYS = ["__proto__", "prototype", ...BUILTIN_NAMES];

const dirs: { cleanup(): void }[] = [];
const wallets: Wallet[] = [];
afterAll(async () => {
  for (const w of wallets) await w.close();
  for (const d of dirs) d.cleanup();
});
async function wallet(deviceId?: string): Promise<Wallet> {
  const d = tempDir();
  dirs.push(d);
  const w = await openWallet({ path: d.path, deviceId, now: () => NOW });
  wallets.push(w);
  return w;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  return undefined;
}

const hashOf = (e: unknown) => encodeCrock(sha512(canonicalJson(e)));
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** An own property named `key` (also "__proto__"), as JSON.parse makes it. */
function withOwn<T extends object>(o: T, key: string, value: unknown): T {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}

async function expectRefusedUnchanged(w: Wallet, call: () => Promise<unknown>, code: string) {
  const log = await w.exportEvents();
  const dump = await w.dumpProjections();
  expect(await codeOf(call())).toBe(code);
  expect(await w.exportEvents()).toEqual(log);
  expect(await w.dumpProjections()).toEqual(dump);
}

describe("device ids that are built-in property names", () => {
  it.each(BUILTIN_NAMES)("a wallet of device %s records, lists, exports, rebuilds and syncs like any other", async (name) => {
    const w = await wallet(name);
    expect(w.deviceId).toBe(name);
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "g", coins: [{ coinPub: `${name}-c`, denomPubHash: "d", value: "KUDOS:4" }] });
    await w.recordSpend({ coinPub: `${name}-c`, amount: "KUDOS:1", spendId: "s" });
    expect((await w.listExchanges()).exchanges.map((x) => x.exchangeBaseUrl)).toEqual([EX]);
    const log = await w.exportEvents();
    expect(log.map((e) => `${e.device}:${e.seq}`)).toEqual([`${name}:1`, `${name}:2`, `${name}:3`]);
    expect(await w.getVectorClock()).toEqual({ [name]: 3 });
    expect(await w.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:3", pendingIncoming: "KUDOS:0" }] });
    const dump = await w.dumpProjections();
    await w.rebuild();
    expect(await w.dumpProjections()).toEqual(dump);

    // A peer takes the log as it is, hashes and all, and sees the same state.
    const peer = await wallet();
    expect(await peer.importEvents(wire(log))).toEqual({ added: 3, known: 0 });
    expect((await peer.exportEvents()).map(hashOf)).toEqual(log.map(hashOf));
    expect(await peer.getBalances()).toEqual(await w.getBalances());
    expect(await peer.getVectorClock()).toEqual({ [name]: 3 });
    expect(await peer.exportEvents({ since: { [name]: 2 } })).toHaveLength(1);
  });

  it("__proto__ is refused as a device id with device-id-invalid (and no wallet is made)", async () => {
    const d = tempDir();
    dirs.push(d);
    expect(await codeOf(openWallet({ path: d.path, deviceId: "__proto__" }))).toBe("device-id-invalid");
    const w = await openWallet({ path: d.path });
    wallets.push(w);
    expect(w.deviceId).not.toBe("__proto__");
  });
});

describe("built-in names in imported events", () => {
  let w: Wallet;
  beforeAll(async () => {
    w = await wallet("main");
    await w.addExchange({ exchangeBaseUrl: EX });
  });
  const first = (device: string, data: unknown, deps: Record<string, number> = {}, type = "exchange-added"): WalletEvent => ({ device, seq: 1, lamport: 20, deps, time: NOW, type, data });

  it.each(BUILTIN_NAMES)("deps naming %s:5 are import-missing-deps, nothing written", async (name) => {
    await expectRefusedUnchanged(w, () => w.importEvents([first("remote", { url: EX, preset: false }, { [name]: 5 })]), "import-missing-deps");
  });

  it("deps naming __proto__ (as JSON.parse makes it) are event-invalid, nothing written", async () => {
    const e = JSON.parse(`{"device":"remote","seq":1,"lamport":20,"deps":{"__proto__":5},"time":${NOW},"type":"exchange-added","data":{"url":"${EX}","preset":false}}`);
    await expectRefusedUnchanged(w, () => w.importEvents([e]), "event-invalid");
  });

  it.each(DANGEROUS_KEYS)("an extra data field %s is event-invalid, at the top of the payload and nested, nothing written", async (key) => {
    await expectRefusedUnchanged(w, () => w.importEvents([first("remote", withOwn({ url: EX, preset: false }, key, 1))]), "event-invalid");
    const coins = [withOwn({ coinPub: "rc", denomPubHash: "d", value: "KUDOS:1" }, key, {})];
    await expectRefusedUnchanged(w, () => w.importEvents([first("remote", { url: EX, withdrawalGroupId: "rg", coins }, {}, "coins-withdrawn")]), "event-invalid");
  });

  it('a JSON "__proto__" key in data is event-invalid: never hashed as one thing and stored as another', async () => {
    const text = `{"device":"remote","seq":1,"lamport":20,"deps":{},"time":${NOW},"type":"exchange-added","data":{"url":"${EX}","preset":false,"__proto__":{"preset":true}}}`;
    await expectRefusedUnchanged(w, () => w.importEvents([JSON.parse(text)]), "event-invalid");
    const nested = `{"device":"remote","seq":1,"lamport":20,"deps":{},"time":${NOW},"type":"coins-withdrawn","data":{"url":"${EX}","withdrawalGroupId":"g","coins":[{"coinPub":"p","denomPubHash":"d","value":"KUDOS:1","__proto__":{"value":"KUDOS:9"}}]}}`;
    await expectRefusedUnchanged(w, () => w.importEvents([JSON.parse(nested)]), "event-invalid");
    // An envelope field named __proto__ is refused too.
    const envelope = `{"device":"remote","seq":1,"lamport":20,"deps":{},"time":${NOW},"type":"exchange-added","data":{"url":"${EX}","preset":false},"__proto__":{}}`;
    await expectRefusedUnchanged(w, () => w.importEvents([JSON.parse(envelope)]), "event-invalid");
  });

  it("a request payload with a JSON __proto__ or constructor key is request-invalid, nothing written", async () => {
    for (const key of ["__proto__", "constructor"]) {
      const payload = JSON.parse(`{"exchangeBaseUrl":"https://other.example/","${key}":{"preset":true}}`);
      const before = await w.exportEvents();
      const r = await w.handleRequest("addExchange", "1", payload);
      expect(r).toMatchObject({ type: "error", error: { code: "request-invalid" } });
      expect(await w.exportEvents()).toEqual(before);
      const coin = JSON.parse(`{"coinPub":"pk","denomPubHash":"d","value":"KUDOS:1","${key}":1}`);
      expect(await w.handleRequest("recordWithdrawal", "2", { exchangeBaseUrl: EX, coins: [coin] })).toMatchObject({ type: "error", error: { code: "request-invalid" } });
    }
  });
});

describe("ids that are built-in property names", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"])("spend id, coin pub and withdrawal group id %s work like any id", async (name) => {
    const w = await wallet();
    await w.addExchange({ exchangeBaseUrl: EX });
    expect(await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: name, coins: [{ coinPub: name, denomPubHash: name, value: "KUDOS:4" }] })).toEqual({ withdrawalGroupId: name });
    expect(await w.recordSpend({ coinPub: name, amount: "KUDOS:1", spendId: name })).toEqual({ spendId: name });
    // The same spend again is a retry (a no-op), not "recorded with undefined".
    expect(await w.recordSpend({ coinPub: name, amount: "KUDOS:1", spendId: name })).toEqual({ spendId: name });
    expect(await codeOf(w.recordSpend({ coinPub: name, amount: "KUDOS:2", spendId: name }))).toBe("spend-duplicate");
    expect(await w.getCoin({ coinPub: name })).toMatchObject({ coinPub: name, remaining: "KUDOS:3", spendIds: [name], origin: { kind: "withdrawal", id: name } });
    expect(await codeOf(w.getCoin({ coinPub: "valueOf" === name ? "toString" : "valueOf" }))).toBe("coin-unknown");
    expect(await codeOf(w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: name, denomPubHash: "d", value: "KUDOS:1" }] }))).toBe("coin-duplicate");
    await w.recordRefresh({ refreshGroupId: name, inputs: [{ coinPub: name, amount: "KUDOS:3" }], outputs: [{ coinPub: `${name}-out`, denomPubHash: "d", value: "KUDOS:2" }] });
    expect(await w.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:2", pendingIncoming: "KUDOS:0" }] });
    const dump = await w.dumpProjections();
    await w.rebuild();
    expect(await w.dumpProjections()).toEqual(dump);
    const peer = await wallet();
    await peer.importEvents(wire(await w.exportEvents()));
    expect(await sharedRecords(peer)).toEqual(await sharedRecords(w));
  });

  it("an exchange URL whose path is a built-in name is an exchange like any other", async () => {
    const w = await wallet();
    for (const name of DANGEROUS_KEYS) await w.addExchange({ exchangeBaseUrl: `https://ex.example/${name}/` });
    expect((await w.listExchanges()).exchanges).toHaveLength(DANGEROUS_KEYS.length);
  });
});

// ---------------------------------------------------------------- property

const dangerousKey = fc.constantFrom(...DANGEROUS_KEYS, "", "0", "a.b", "\u0000");
const freeText = fc.oneof(fc.constantFrom(...DANGEROUS_KEYS), fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "grapheme", maxLength: 6 }));
const idText = fc.oneof(fc.constantFrom(...DANGEROUS_KEYS), fc.string({ minLength: 1, maxLength: 12 }), fc.string({ unit: "binary", minLength: 1, maxLength: 8 }));
const url = fc.constantFrom(EX, "https://b.example/", "https://ex.example/__proto__/");
const amount = fc.integer({ min: 1, max: 9 }).map((v) => `KUDOS:${v}`);

let unique = 0;
const coin = fc.record(
  { coinPub: idText, denomPubHash: idText, value: amount, coinPriv: freeText, denomSig: freeText },
  { requiredKeys: ["coinPub", "denomPubHash", "value"] },
).map((c) => ({ ...c, coinPub: `${c.coinPub}#${++unique}` }));
const ts = fc.oneof(fc.nat(), fc.constant("never" as const));
const keys = fc.record({
  currency: fc.constant("KUDOS"),
  masterPub: idText,
  version: fc.constantFrom("23:0:6", "x"),
  reserveClosingDelayUs: fc.oneof(fc.nat(), fc.constant("forever" as const)),
  listIssueDate: ts,
  denominations: fc.array(
    fc.record({
      denomPubHash: idText,
      cipher: freeText,
      value: amount,
      feeWithdraw: amount,
      feeDeposit: amount,
      feeRefresh: amount,
      feeRefund: amount,
      stampStart: ts,
      stampExpireWithdraw: ts,
      stampExpireDeposit: ts,
      stampExpireLegal: ts,
    }),
    { maxLength: 2 },
  ),
  signkeys: fc.array(fc.record({ key: freeText, stampStart: ts, stampExpire: ts, stampEnd: ts }), { maxLength: 2 }),
});

const draft: fc.Arbitrary<SharedDraft> = fc.oneof(
  fc.record({ type: fc.constant("exchange-added" as const), data: fc.record({ url, preset: fc.boolean() }) }),
  fc.record({ type: fc.constant("exchange-update-failed" as const), data: fc.record({ url, code: idText, message: freeText }) }),
  fc.record({
    type: fc.constant("exchange-tos-offered" as const),
    data: fc.record({ url, etag: idText, termsVersion: freeText, languages: fc.array(freeText, { maxLength: 3 }) }, { requiredKeys: ["url", "etag", "languages"] }),
  }),
  fc.record({ type: fc.constant("exchange-keys-fetched" as const), data: fc.record({ url, keys }) }),
  fc.record({
    type: fc.constant("coins-withdrawn" as const),
    data: fc.record({ url, withdrawalGroupId: idText, coins: fc.array(coin, { minLength: 1, maxLength: 3 }) }).map((d) => ({ ...d, withdrawalGroupId: `${d.withdrawalGroupId}#${++unique}` })),
  }),
) as fc.Arbitrary<SharedDraft>;

/** Every plain object inside `v` (v itself included), with depth: the places a key can be slipped in. */
function objectsIn(v: unknown, out: object[] = []): object[] {
  if (typeof v !== "object" || v === null) return out;
  if (!Array.isArray(v)) out.push(v);
  for (const x of Object.values(v)) objectsIn(x, out);
  return out;
}

/** A batch of drafts, some with a dangerous own key slipped into an object at any depth, some sent through JSON text. */
const batch = fc
  .record({
    drafts: fc.array(draft, { minLength: 1, maxLength: 3 }),
    slips: fc.array(fc.record({ at: fc.nat(), draft: fc.nat(), key: dangerousKey, value: fc.jsonValue({ maxDepth: 2 }) }), { maxLength: 2 }),
    viaJson: fc.boolean(),
  })
  .map(({ drafts, slips, viaJson }) => {
    for (const s of slips) {
      const d = drafts[s.draft % drafts.length];
      const objs = objectsIn(d.data);
      withOwn(objs[s.at % objs.length], s.key, s.value);
    }
    return viaJson ? (JSON.parse(JSON.stringify(drafts)) as SharedDraft[]) : drafts;
  });

describe("property: a payload with built-in names as keys or values, at any depth", () => {
  let a: Store;
  let b: Wallet;
  beforeAll(async () => {
    const d = tempDir();
    dirs.push(d);
    a = await openStore({ path: d.path, deviceId: "author", projections: PROJECTIONS });
    b = await wallet("peer");
  });
  afterAll(async () => {
    await a.close();
  });

  it("either round-trips append → export → import with identical bytes and hashes, or is refused at append with a WalletError and nothing written", async () => {
    const counts = { accepted: 0, refused: new Map<string, number>() };
    await fc.assert(
      fc.asyncProperty(batch, async (drafts) => {
        const clock = a.clock();
        const head = a.head("author");
        const dump = JSON.stringify(a.dumpRecords());
        let appended: WalletEvent[] | undefined;
        try {
          appended = a.write((tx) => tx.appendOwn(drafts, NOW)) as WalletEvent[];
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(WalletError);
          const code = (e as WalletError).code;
          counts.refused.set(code, (counts.refused.get(code) ?? 0) + 1);
          expect(a.head("author")).toEqual(head);
          expect(a.eventCount()).toBe(head?.seq ?? 0);
          expect(JSON.stringify(a.dumpRecords())).toBe(dump);
          return;
        }
        counts.accepted++;
        // What was appended is what was given, and what is stored is what was hashed.
        for (const [i, e] of appended.entries()) {
          expect(canonicalJson(e.data)).toBe(canonicalJson(drafts[i].data));
          expect(canonicalJson(a.getEvent(e.device, e.seq))).toBe(canonicalJson(e));
        }
        expect(a.head("author")!.hash).toBe(hashOf(appended[appended.length - 1]));
        // Over the wire (JSON text) to a peer: accepted, and stored as the same bytes.
        const exported = wire(exportFrom(a, clock));
        expect(exported.map(hashOf)).toEqual(appended.map(hashOf));
        expect(await b.importEvents(exported)).toEqual({ added: appended.length, known: 0 });
        const there = await b.exportEvents({ since: { ...clock, peer: 0 } });
        expect(there.map(canonicalJson)).toEqual(appended.map(canonicalJson));
        // Importing the same events again is a no-op: the bytes compare equal.
        expect(await b.importEvents(exported)).toEqual({ added: 0, known: appended.length });
      }),
      { numRuns: RUNS },
    );
    console.log(`payload property: ${counts.accepted} batches round-tripped; refused at append: ${JSON.stringify(Object.fromEntries(counts.refused))}`);
    expect(counts.accepted).toBeGreaterThan(0);
    expect(counts.refused.get("event-invalid") ?? 0).toBeGreaterThan(0);
    // Both replicas fold the same state from the same log.
    expect(await sharedRecords(b)).toEqual(JSON.parse(JSON.stringify(a.dumpRecords().filter((r) => r.key[0] !== "known" && r.key[0] !== "upd"))));
  });
});

// handleRequest: every operation of the table answered through the one entry
// point, as plain JSON, in the same shapes the typed methods give; bad
// operations and payloads as error envelopes; never a rejection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operations, type OperationName } from "../src/ops/index.ts";
import type { ResponseEnvelope, Wallet } from "../src/wallet.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { tempDir, tempWallet } from "./support/temp-wallet.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
let ex: TestExchange;
let w: Wallet;
let other: Wallet;
let sync: SyncServer;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  ex = await startTestExchange({ now: () => NOW });
  cleanups.push(() => ex.close());
  const syncDir = tempDir();
  cleanups.push(syncDir.cleanup);
  sync = await startSyncServer({ port: 0, host: "127.0.0.1", path: syncDir.path });
  cleanups.push(() => sync.close());
  const a = await tempWallet({ deviceId: "dispatch-a", now: () => NOW });
  const b = await tempWallet({ deviceId: "dispatch-b", now: () => NOW });
  cleanups.push(a.cleanup, b.cleanup);
  w = a.wallet;
  other = b.wallet;
  await other.addExchange({ exchangeBaseUrl: "https://elsewhere.example/" });
});

afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A JSON round trip: what a host on the other side of IPC would see. */
const overTheWire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

async function ok(op: string, payload: unknown): Promise<unknown> {
  const r = await w.handleRequest(op, `req-${op}`, payload === undefined ? undefined : overTheWire(payload));
  if (r.type !== "response") throw new Error(`${op} failed: ${JSON.stringify(r.error)}`);
  expect(r.operation).toBe(op);
  expect(r.id).toBe(`req-${op}`);
  // Plain JSON: it survives serialization unchanged.
  expect(overTheWire(r.result)).toEqual(r.result);
  return r.result;
}

async function err(op: unknown, payload: unknown, id: unknown = "req-x"): Promise<ResponseEnvelope & { type: "error" }> {
  const r = await w.handleRequest(op as string, id as string, payload);
  expect(r.type).toBe("error");
  expect(overTheWire(r)).toEqual(r);
  return r as ResponseEnvelope & { type: "error" };
}

// One valid request per operation, in an order where each finds what it needs; `check` compares with the typed method.
const EX_URL = () => ex.baseUrl;
const steps: { op: OperationName; payload: () => unknown; check?: (result: unknown) => Promise<void> | void }[] = [
  { op: "addExchange", payload: () => ({ exchangeBaseUrl: EX_URL() }) },
  {
    op: "updateExchange",
    payload: () => ({ exchangeBaseUrl: EX_URL() }),
    check: (r) => expect(r).toMatchObject({ exchangeBaseUrl: EX_URL(), exchangeUpdateStatus: "ready" }),
  },
  {
    op: "getExchangeTos",
    payload: () => ({ exchangeBaseUrl: EX_URL(), acceptLanguage: "de" }),
    check: (r) => expect(r).toMatchObject({ contentLanguage: "de", tosStatus: "proposed" }),
  },
  { op: "setExchangeTosAccepted", payload: () => ({ exchangeBaseUrl: EX_URL(), etag: "v1" }) },
  { op: "listExchanges", payload: () => ({}), check: async (r) => expect(r).toEqual(await w.listExchanges()) },
  { op: "getExchangeEntryByUrl", payload: () => ({ exchangeBaseUrl: EX_URL() }), check: async (r) => expect(r).toEqual(await w.getExchangeEntryByUrl({ exchangeBaseUrl: EX_URL() })) },
  {
    op: "recordWithdrawal",
    payload: () => ({
      exchangeBaseUrl: EX_URL(),
      withdrawalGroupId: "wg-1",
      amount: `${ex.currency}:9`,
      coins: [
        { coinPub: "c-1", denomPubHash: "d", value: `${ex.currency}:4` },
        { coinPub: "c-2", denomPubHash: "d", value: `${ex.currency}:2` },
      ],
    }),
    check: (r) => expect(r).toEqual({ withdrawalGroupId: "wg-1" }),
  },
  { op: "recordSpend", payload: () => ({ coinPub: "c-1", amount: `${ex.currency}:1`, spendId: "s-1" }), check: (r) => expect(r).toEqual({ spendId: "s-1" }) },
  {
    op: "recordRefresh",
    payload: () => ({ refreshGroupId: "r-1", inputs: [{ coinPub: "c-2", amount: `${ex.currency}:2` }], outputs: [{ coinPub: "c-3", denomPubHash: "d", value: `${ex.currency}:1.5` }] }),
    check: (r) => expect(r).toEqual({ refreshGroupId: "r-1" }),
  },
  { op: "getCoin", payload: () => ({ coinPub: "c-1" }), check: (r) => expect(r).toMatchObject({ coinPub: "c-1", remaining: `${ex.currency}:3`, spendIds: ["s-1"] }) },
  { op: "getBalances", payload: () => undefined, check: async (r) => expect(r).toEqual(await w.getBalances()) },
  { op: "listConflicts", payload: () => ({}), check: (r) => expect(r).toEqual({ conflicts: [] }) },
  { op: "getTransactions", payload: () => ({ currency: ex.currency }), check: async (r) => expect(r).toEqual(await w.getTransactions({ currency: ex.currency })) },
  { op: "abortWithdrawal", payload: () => ({ withdrawalGroupId: "wg-1" }) },
  { op: "getExchangeResources", payload: () => ({ exchangeBaseUrl: EX_URL() }), check: (r) => expect(r).toEqual({ hasResources: true, coins: 2, withdrawalGroups: 0 }) },
  { op: "setExchangeSuspended", payload: () => ({ exchangeBaseUrl: EX_URL(), suspended: false }) },
  { op: "runPendingUpdates", payload: () => ({ now: NOW }), check: (r) => expect(r).toEqual({ updated: [], collected: [] }) },
  { op: "getVectorClock", payload: () => undefined, check: async (r) => expect(r).toEqual(await w.getVectorClock()) },
  { op: "exportEvents", payload: () => ({ since: {} }), check: async (r) => expect(r).toEqual(overTheWire(await w.exportEvents())) },
  {
    op: "importEvents",
    payload: async () => other.exportEvents(),
    check: (r) => expect(r).toEqual({ added: 1, known: 0 }),
  },
  {
    op: "exportBackupPlain",
    payload: () => undefined,
    check: async (r) => expect(r).toEqual(overTheWire(await w.exportBackupPlain())),
  },
  {
    // Bytes travel as base64, and the answer is a valid importBackupEncrypted request as it is.
    op: "exportBackupEncrypted",
    payload: () => undefined,
    check: async (r) => {
      expect(Buffer.from(r as string, "base64").subarray(0, 8).toString("ascii")).toBe("TLRWBK01");
      expect(await w.handleRequest("importBackupEncrypted", "again", r)).toMatchObject({ type: "response", result: { added: 0 } });
      expect(await w.handleRequest("importBackupEncrypted", "bytes", Buffer.from(r as string, "base64"))).toMatchObject({ type: "response", result: { added: 0 } });
    },
  },
  {
    op: "importBackupEncrypted",
    payload: async () => ({ backup: Buffer.from(await w.exportBackupEncrypted()).toString("base64") }),
    check: async (r) => expect(r).toEqual({ added: 0, known: Object.values(await w.getVectorClock()).reduce((a, b) => a + b, 0) }),
  },
  { op: "importBackupPlain", payload: async () => other.exportBackupPlain(), check: (r) => expect(r).toEqual({ added: 0, known: 1 }) },
  { op: "addBackupProvider", payload: () => ({ backupProviderBaseUrl: sync.baseUrl, activate: true }) },
  {
    op: "runBackupCycle",
    payload: () => undefined,
    check: (r) => expect(r).toMatchObject({ providers: [{ syncProviderBaseUrl: sync.baseUrl, outcome: "stored", uploads: 1 }] }),
  },
  {
    op: "getBackupInfo",
    payload: () => ({}),
    check: async (r) => {
      expect(r).toEqual(overTheWire(await w.getBackupInfo()));
      expect((r as { providers: { lastBackupHash?: string }[] }).providers[0].lastBackupHash).toMatch(/^[0-9A-Z]{103}$/);
    },
  },
  {
    op: "getBackupRecovery",
    payload: () => undefined,
    check: async (r) => {
      expect(r).toEqual(await w.getBackupRecovery());
      expect((r as { providers: unknown }).providers).toEqual([{ url: sync.baseUrl }]);
    },
  },
  {
    op: "loadBackupRecovery",
    payload: async () => ({ recovery: { ...(await w.getBackupRecovery()), providers: [] } }),
    check: (r) => expect(r).toEqual({ strategy: "same-key", added: 0, known: 0 }),
  },
  { op: "removeBackupProvider", payload: () => ({ backupProviderBaseUrl: sync.baseUrl }) },
  { op: "setExchangeTosForgotten", payload: () => ({ exchangeBaseUrl: EX_URL() }) },
  { op: "dumpProjections", payload: () => undefined, check: async (r) => expect(r).toEqual(overTheWire(await w.dumpProjections())) },
  { op: "rebuild", payload: () => ({}) },
  { op: "deleteExchange", payload: () => ({ exchangeBaseUrl: "https://elsewhere.example/" }) },
];

describe("handleRequest answers every operation of the table", () => {
  it("the list below covers every operation", () => {
    expect(new Set(steps.map((s) => s.op))).toEqual(new Set(Object.keys(operations)));
  });

  it.each(steps.map((s) => [s.op, s] as const))("%s answers with a response envelope of plain JSON", async (_, step) => {
    const result = await ok(step.op, await step.payload());
    await step.check?.(result);
  });

  it("a void operation answers {} as its result", async () => {
    expect(await ok("addExchange", { exchangeBaseUrl: EX_URL() })).toEqual({});
  });
});

describe("handleRequest turns every refusal into an error envelope", () => {
  it("an unknown operation is operation-unknown", async () => {
    for (const op of ["noSuchOperation", "", "constructor", "__proto__", "toString", 42, null, undefined]) {
      const r = await err(op, {});
      expect(r.error.code).toBe("operation-unknown");
      expect(r.error.message.length).toBeGreaterThan(0);
    }
  });

  it.each([
    ["addExchange", null, "request-invalid"],
    ["addExchange", {}, "request-invalid"],
    ["addExchange", { exchangeBaseUrl: 5 }, "url-invalid"],
    ["addExchange", { exchangeBaseUrl: "https://x.example/", unknownField: 1 }, "request-invalid"],
    ["listExchanges", { filterByExchangeEntryStatus: "gone" }, "request-invalid"],
    ["updateExchange", { exchangeBaseUrl: "https://x.example/", force: "yes" }, "request-invalid"],
    ["getExchangeTos", { exchangeBaseUrl: "https://x.example/", acceptLanguage: 5 }, "request-invalid"],
    ["runPendingUpdates", { now: "soon" }, "request-invalid"],
    ["recordWithdrawal", { exchangeBaseUrl: "https://x.example/" }, "request-invalid"],
    ["recordSpend", { coinPub: "c-1", amount: "KUDOS" }, "amount-invalid"],
    ["recordRefresh", { inputs: [], outputs: [] }, "request-invalid"],
    ["abortWithdrawal", { withdrawalGroupId: 3 }, "request-invalid"],
    ["getCoin", {}, "request-invalid"],
    ["getTransactions", { currency: "not a currency" }, "request-invalid"],
    ["getBalances", { extra: true }, "request-invalid"],
    ["exportEvents", { since: { W: Number.NaN } }, "request-invalid"],
    ["exportEvents", { since: { "not a device": 1 } }, "request-invalid"],
    ["importEvents", { events: [] }, "request-invalid"],
    ["importEvents", [{ device: "x" }], "event-invalid"],
    ["importBackupEncrypted", { backup: "not base64!" }, "request-invalid"],
    ["importBackupEncrypted", { backup: "VExSV0JLMDE=" }, "backup-truncated"],
    ["importBackupPlain", { schema_id: "something-else" }, "backup-schema-id-invalid"],
    ["loadBackupRecovery", { recovery: { walletRootPriv: "short", providers: [] } }, "backup-key-invalid"],
    ["loadBackupRecovery", { recovery: { walletRootPriv: "0".repeat(52) }, strategy: "mine" }, "request-invalid"],
    ["removeBackupProvider", { backupProviderBaseUrl: "https://unknown.example/" }, "backup-provider-unknown"],
  ])("%s with %j is %s", async (op, payload, code) => {
    const r = await err(op, payload);
    expect(r.error.code).toBe(code);
    expect(r.operation).toBe(op);
    expect(r.id).toBe("req-x");
  });

  it("a state refusal keeps its code and JSON details", async () => {
    const r = await err("recordSpend", { coinPub: "c-1", amount: `${ex.currency}:100` });
    expect(r.error).toMatchObject({ code: "coin-overspent", details: { coinPub: "c-1", left: `${ex.currency}:3` } });
  });

  it("ids that are not strings are echoed as strings, and nothing rejects", async () => {
    const r = await err("getCoin", { coinPub: "nope" }, 17);
    expect(r.id).toBe("17");
    expect(r.error.code).toBe("coin-unknown");
  });

  it("an operation or id that has no string form (no toString, or a throwing one) is still answered, not rejected", async () => {
    const bare = Object.create(null) as object;
    const hostile = { toString: () => { throw new Error("no"); } };
    for (const odd of [bare, hostile, Symbol("op")]) {
      const r = await err(odd, {}, odd);
      expect(r.error.code).toBe("operation-unknown");
      expect(typeof r.operation).toBe("string");
      expect(typeof r.id).toBe("string");
    }
  });

  it("after close every operation answers wallet-closed, still without rejecting", async () => {
    const t = await tempWallet();
    await t.wallet.close();
    const r = await t.wallet.handleRequest("getBalances", "1", {});
    expect(r).toMatchObject({ type: "error", error: { code: "wallet-closed" } });
    await t.cleanup();
  });
});

// Issue 13, failure 6: raw errors reached the caller. Keys over 1,978 bytes
// gave lmdb's "Key size is larger than the maximum key size"; a full disk gave
// "Input/output error" and openWallet then failed even to read; a read-only
// directory was reported as store-corrupt; acceptFormat: "text/html" gave a
// TypeError; exportEvents({ since: { W: NaN } }) silently returned nothing;
// force: "yes", acceptLanguage: 5 and runPendingUpdates({ now: "soon" }) were
// accepted. Now every field of every request is type-checked, ids and URLs
// are bounded below LMDB's key size, and file-system failures have codes.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES, WalletError } from "../src/errors.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { unsealJson } from "../src/events/sealed-value.ts";
import { operations } from "../src/ops/index.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const NOW = Date.UTC(2025, 0, 15);
const dirs: { cleanup(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};

async function codeOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  return undefined;
}
const any = (x: unknown) => x as never;

let w: Wallet;
let exchange: TestExchange;
beforeAll(async () => {
  exchange = await startTestExchange({ now: () => NOW });
  w = await openWallet({ path: fresh(), deviceId: "dev", now: () => NOW });
  await w.addExchange({ exchangeBaseUrl: EX });
  await w.addExchange({ exchangeBaseUrl: exchange.baseUrl });
  await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "wg", coins: [{ coinPub: "coin", denomPubHash: "d", value: "KUDOS:4" }] });
});
afterAll(async () => {
  await w.close();
  await exchange.close();
});

async function expectRefusedUnchanged(call: () => Promise<unknown>, code: string | RegExp) {
  const log = await w.exportEvents();
  const dump = await w.dumpProjections();
  const got = await codeOf(call);
  if (typeof code === "string") expect(got).toBe(code);
  else expect(got).toMatch(code);
  expect(await w.exportEvents()).toEqual(log);
  expect(await w.dumpProjections()).toEqual(dump);
}

describe("keys longer than LMDB holds are request-too-large, never lmdb's key-size error", () => {
  const long = "a".repeat(3_000);
  it.each([
    ["a 3,000-character URL path", () => w.addExchange({ exchangeBaseUrl: `https://ex.example/${long}/` })],
    ["a 3,000-character coinPub", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: long, denomPubHash: "d", value: "KUDOS:1" }] })],
    ["a 3,000-character withdrawal group id", () => w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: long, coins: [{ coinPub: "c2", denomPubHash: "d", value: "KUDOS:1" }] })],
    ["a 3,000-character denomPubHash", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "c3", denomPubHash: long, value: "KUDOS:1" }] })],
    ["a 3,000-character spend id", () => w.recordSpend({ coinPub: "coin", amount: "KUDOS:1", spendId: long })],
    ["a 3,000-character coinPub to spend", () => w.recordSpend({ coinPub: long, amount: "KUDOS:1" })],
    ["a 3,000-character refresh group id", () => w.recordRefresh({ refreshGroupId: long, inputs: [{ coinPub: "coin", amount: "KUDOS:1" }], outputs: [] })],
    ["a 3,000-character etag", () => w.setExchangeTosAccepted({ exchangeBaseUrl: EX, etag: long })],
    ["an id of 200 three-byte characters (600 bytes)", () => w.recordSpend({ coinPub: "coin", amount: "KUDOS:1", spendId: "€".repeat(200) })],
    [
      "a 3,000-character provider URL in a recovery",
      async () => w.loadBackupRecovery({ recovery: { walletRootPriv: (await w.getBackupRecovery()).walletRootPriv, providers: [{ url: `https://sync.example/${long}/` }] } }),
    ],
  ])("%s", async (_, call) => {
    await expectRefusedUnchanged(call, "request-too-large");
  });

  it("a URL that grows past the bound when canonicalized (percent-encoding) is refused, not keyed", async () => {
    await expectRefusedUnchanged(() => w.addExchange({ exchangeBaseUrl: `https://ex.example/${"é".repeat(330)}/` }), /^(request-too-large|url-invalid)$/);
  });

  it("the longest accepted id (512 bytes) and URL (1,024 bytes) are stored, read, rebuilt, exported and imported", async () => {
    const v = await openWallet({ path: fresh(), now: () => NOW });
    const url = `https://ex.example/${"u".repeat(1024 - "https://ex.example/".length - 1)}/`;
    expect(Buffer.byteLength(url)).toBe(1024);
    const id = "i".repeat(512);
    await v.addExchange({ exchangeBaseUrl: url });
    await v.recordWithdrawal({ exchangeBaseUrl: url, withdrawalGroupId: id, coins: [{ coinPub: id, denomPubHash: id, value: "KUDOS:2" }] });
    await v.recordSpend({ coinPub: id, amount: "KUDOS:1", spendId: id, purchaseId: id });
    await v.setExchangeTosAccepted({ exchangeBaseUrl: url, etag: id });
    expect((await v.getCoin({ coinPub: id })).remaining).toBe("KUDOS:1");
    const dump = await v.dumpProjections();
    await v.rebuild();
    expect(await v.dumpProjections()).toEqual(dump);
    const peer = await openWallet({ path: fresh() });
    expect(await peer.importEvents(JSON.parse(JSON.stringify(await v.exportEvents())))).toEqual({ added: 4, known: 0 });
    await peer.close();
    await v.close();
  });

  it("imported events with over-long ids or URLs are event-invalid, nothing written", async () => {
    const ev = (data: unknown, type = "coins-withdrawn"): WalletEvent => ({ device: "remote", seq: 1, lamport: 9, deps: {}, time: NOW, type, data });
    await expectRefusedUnchanged(() => w.importEvents([ev({ url: EX, withdrawalGroupId: "g", coins: [{ coinPub: long, denomPubHash: "d", value: "KUDOS:1" }] })]), "event-invalid");
    await expectRefusedUnchanged(() => w.importEvents([ev({ url: `https://ex.example/${long}/`, preset: false }, "exchange-added")]), "event-invalid");
    await expectRefusedUnchanged(() => w.importEvents([{ ...ev({ url: EX, preset: false }, "exchange-added"), device: "d".repeat(65) }]), "event-invalid");
  });
});

describe("every request field is type-checked", () => {
  it.each([
    ["exportEvents since { W: NaN }", () => w.exportEvents({ since: { W: NaN } })],
    ["exportEvents since { W: -1 }", () => w.exportEvents({ since: { W: -1 } })],
    ["exportEvents since { W: 1.5 }", () => w.exportEvents({ since: { W: 1.5 } })],
    ["exportEvents since { W: '3' }", () => w.exportEvents({ since: any({ W: "3" }) })],
    ["exportEvents since []", () => w.exportEvents({ since: any([]) })],
    ["exportEvents since { 'no device': 1 }", () => w.exportEvents({ since: { "no device": 1 } })],
    ["updateExchange force: 'yes'", () => w.updateExchange({ exchangeBaseUrl: EX, force: any("yes") })],
    ["getExchangeTos acceptLanguage: 5", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: any(5) })],
    ["getExchangeTos acceptLanguage: ['en', 5]", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: any(["en", 5]) })],
    ["getExchangeTos acceptFormat: {}", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptFormat: any({}) })],
    ["runPendingUpdates now: 'soon'", () => w.runPendingUpdates({ now: any("soon") })],
    ["runPendingUpdates now: -1", () => w.runPendingUpdates({ now: -1 })],
    ["runPendingUpdates now: NaN", () => w.runPendingUpdates({ now: NaN })],
    ["addExchange preset: 'true'", () => w.addExchange({ exchangeBaseUrl: "https://new.example/", preset: any("true") })],
    ["setExchangeSuspended suspended: 1", () => w.setExchangeSuspended({ exchangeBaseUrl: EX, suspended: any(1) })],
    ["deleteExchange purge: 'yes'", () => w.deleteExchange({ exchangeBaseUrl: EX, purge: any("yes") })],
    ["recordSpend purchaseId: 5", () => w.recordSpend({ coinPub: "coin", amount: "KUDOS:1", purchaseId: any(5) })],
    ["getBalances with a field", () => w.handleRequest("getBalances", "1", { x: 1 }).then((r) => (r.type === "error" ? Promise.reject(new WalletError(r.error.code, r.error.message)) : r))],
  ])("%s is request-invalid, nothing written", async (_, call) => {
    await expectRefusedUnchanged(call, "request-invalid");
  });

  it('acceptFormat: "text/html" (one string) is a list of one, not a TypeError', async () => {
    const tos = await w.getExchangeTos({ exchangeBaseUrl: exchange.baseUrl, acceptFormat: "text/html" });
    expect(typeof tos.content).toBe("string");
    expect(exchange.requests.at(-1)?.headers.accept).toContain("text/html");
    const md = await w.getExchangeTos({ exchangeBaseUrl: exchange.baseUrl, acceptFormat: "text/markdown", acceptLanguage: "en" });
    expect(md.contentType).toContain("text/markdown");
  });

  // A valid payload per operation with every field present; each field in turn gets values of the wrong type.
  const base: Record<string, unknown> = {
    addExchange: { exchangeBaseUrl: EX, preset: true },
    updateExchange: { exchangeBaseUrl: EX, force: true },
    listExchanges: { filterByExchangeEntryStatus: "used" },
    getExchangeEntryByUrl: { exchangeBaseUrl: EX },
    getExchangeResources: { exchangeBaseUrl: EX },
    deleteExchange: { exchangeBaseUrl: EX, purge: false },
    getExchangeTos: { exchangeBaseUrl: EX, acceptLanguage: ["en"], acceptFormat: ["text/plain"] },
    setExchangeTosAccepted: { exchangeBaseUrl: EX, etag: "e" },
    setExchangeTosForgotten: { exchangeBaseUrl: EX },
    setExchangeSuspended: { exchangeBaseUrl: EX, suspended: false },
    runPendingUpdates: { now: NOW },
    recordWithdrawal: { exchangeBaseUrl: EX, withdrawalGroupId: "g", amount: "KUDOS:1", coins: [{ coinPub: "p", denomPubHash: "d", value: "KUDOS:1", coinPriv: "k", blindingKey: "b", denomSig: "s" }] },
    recordSpend: { coinPub: "coin", amount: "KUDOS:1", spendId: "s", purchaseId: "p" },
    recordRefresh: { refreshGroupId: "r", inputs: [{ coinPub: "coin", amount: "KUDOS:1" }], outputs: [{ coinPub: "o", denomPubHash: "d", value: "KUDOS:1" }] },
    abortWithdrawal: { withdrawalGroupId: "wg" },
    getBalances: {},
    listConflicts: {},
    getCoin: { coinPub: "coin" },
    getTransactions: { currency: "KUDOS", exchangeBaseUrl: EX },
    getVectorClock: {},
    exportEvents: { since: { dev: 1 } },
    importEvents: [],
    rebuild: {},
    dumpProjections: {},
    exportBackupPlain: {},
    exportBackupEncrypted: {},
    importBackupPlain: { schema_id: "gnu-taler-wallet-backup-content", schema_version: 1 },
    importBackupEncrypted: { backup: "VExSV0JLMDE=", walletRootPriv: "0".repeat(52), maxPlainBytes: 1000 },
    getBackupRecovery: {},
    loadBackupRecovery: { recovery: { walletRootPriv: "0".repeat(52), providers: [{ url: "https://sync.example/" }] }, strategy: "ours" },
    addBackupProvider: { backupProviderBaseUrl: "https://sync.example/", activate: true },
    removeBackupProvider: { backupProviderBaseUrl: "https://sync.example/" },
    getBackupInfo: {},
    runBackupCycle: { force: true },
  };
  const VALIDATION = ["request-invalid", "url-invalid", "amount-invalid", "request-too-large", "backup-key-invalid"];
  // A plain backup is one document, not a request: its reader refuses what it cannot read with a backup-* code.
  const refusedAsInvalid = (op: string, code: string) => VALIDATION.includes(code) || (op === "importBackupPlain" && code.startsWith("backup-"));

  function wrongFor(v: unknown): unknown[] {
    if (typeof v === "string") return [5, true, null, [], {}, NaN];
    if (typeof v === "boolean") return ["yes", 1, null, [], {}];
    if (typeof v === "number") return ["soon", NaN, -1, 1.5, Infinity, null, true, [], {}];
    if (Array.isArray(v)) return [5, true, null, {}];
    return [5, "x", true, null, []];
  }
  /** Every path to a value inside `v` (not `v` itself): field names and array indexes. */
  function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
    if (typeof v !== "object" || v === null) return [];
    return Object.entries(v).flatMap(([k, x]) => {
      const p = [...at, Array.isArray(v) ? Number(k) : k];
      return [p, ...paths(x, p)];
    });
  }
  function replaced(v: unknown, path: (string | number)[], by: unknown): unknown {
    const copy = structuredClone(v) as Record<string | number, unknown>;
    let o = copy;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
    o[path[path.length - 1]] = by;
    return copy;
  }

  it("the sweep covers every operation of the table", () => {
    expect(Object.keys(base).sort()).toEqual(Object.keys(operations).sort());
  });

  it("every field of every operation, given a value of the wrong type, is refused with a validation code (handleRequest, nothing written)", async () => {
    const log = await w.exportEvents();
    const dump = await w.dumpProjections();
    const wrong: string[] = [];
    let cases = 0;
    for (const [op, payload] of Object.entries(base)) {
      const variants: [string, unknown][] = [
        ...paths(payload).flatMap((p) => wrongFor(p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], payload)).map((x): [string, unknown] => [`${p.join(".")} = ${JSON.stringify(x) ?? String(x)}`, replaced(payload, p, x)])),
        ...(Array.isArray(payload) ? [] : [["an unknown field", { ...(payload as object), unknownField: 1 }] as [string, unknown]]),
        ...(op === "importEvents" ? [5, "x", {}, true].map((x): [string, unknown] => [`payload ${JSON.stringify(x)}`, x]) : []),
      ];
      for (const [what, p] of variants) {
        cases++;
        const r = await w.handleRequest(op, String(cases), p);
        if (r.type !== "error" || !refusedAsInvalid(op, r.error.code)) wrong.push(`${op} ${what}: ${JSON.stringify(r).slice(0, 200)}`);
      }
    }
    expect(wrong, wrong.join("\n")).toEqual([]);
    expect(cases).toBeGreaterThan(200);
    expect(await w.exportEvents()).toEqual(log);
    expect(await w.dumpProjections()).toEqual(dump);
  });

  it("handleRequest answers a payload that is not JSON-like (a function, a class instance, a cyclic object) with a code, never a raw error", async () => {
    const cyclic: Record<string, unknown> = { exchangeBaseUrl: EX };
    cyclic.self = cyclic;
    for (const p of [() => 1, new Date(), new Map(), cyclic, Object.create({ exchangeBaseUrl: EX })]) {
      const r = await w.handleRequest("addExchange", "x", p);
      expect(r.type).toBe("error");
      if (r.type === "error") expect(Object.keys(ERROR_CODES)).toContain(r.error.code);
      if (r.type === "error") expect(r.error.code).not.toBe("internal-error");
    }
  });
});

describe("file-system failures have codes", () => {
  it("wallet.mdb that is a directory (EISDIR) is store-corrupt or store-open-failed", async () => {
    const path = fresh();
    mkdirSync(join(path, "wallet.mdb"));
    expect(await codeOf(openWallet({ path }))).toMatch(/^store-(corrupt|open-failed)$/);
    // Also once the wallet existed (with its marker).
    const p2 = fresh();
    await (await openWallet({ path: p2 })).close();
    rmSync(join(p2, "wallet.mdb"));
    mkdirSync(join(p2, "wallet.mdb"));
    expect(await codeOf(openWallet({ path: p2 }))).toMatch(/^store-(corrupt|open-failed)$/);
  });

  /** A small tmpfs of our own, or the reason it cannot be had here. */
  function mountTmpfs(sizeKb: number): { dir: string; remountReadOnly(): void; unmount(): void } | string {
    const dir = fresh();
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKb}k`, "tmpfs", dir], { stdio: "pipe" });
    } catch (e) {
      return `cannot mount a tmpfs here (${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`;
    }
    return {
      dir,
      remountReadOnly: () => execFileSync("mount", ["-o", "remount,ro", dir], { stdio: "pipe" }),
      unmount: () => unmountTmpfs(dir),
    };
  }

  // Once in a full CI run, umount right after the wallet closed said "target is busy" (the test's
  // assertions had all passed). Cleanup is not what these tests check: retry a few times, then
  // detach lazily so the tmpfs goes away when its last user does.
  function unmountTmpfs(dir: string): void {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
        return;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
    execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  }

  it("a full disk: a write is store-disk-full and writes nothing; reads, a reopen and (once space is freed) writes work", async (ctx) => {
    const fs = mountTmpfs(4096);
    if (typeof fs === "string") {
      console.log(`skipped: ${fs}`);
      return ctx.skip();
    }
    try {
      const path = join(fs.dir, "w");
      let v = await openWallet({ path, now: () => NOW });
      await v.addExchange({ exchangeBaseUrl: EX });
      for (let i = 0; i < 20; i++) await v.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: `c${i}`, denomPubHash: "d", value: "KUDOS:1" }] });
      const log = await v.exportEvents();
      const balances = await v.getBalances();
      // Fill the rest of the file system.
      const filler = join(fs.dir, "filler");
      expect(() => writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024))).toThrow(expect.objectContaining({ code: "ENOSPC" }));

      let full: string | undefined;
      for (let i = 0; i < 200 && full === undefined; i++) {
        full = await codeOf(v.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: `big-${i}-${"x".repeat(400)}`, denomPubHash: "d".repeat(400), value: "KUDOS:1" }] }));
      }
      expect(full).toBe("store-disk-full");
      const afterFull = await v.exportEvents();
      // Reads still work, and show what committed (the failed write added nothing).
      expect(afterFull.slice(0, log.length)).toEqual(log);
      expect(await v.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: `KUDOS:${afterFull.length - 1}`, pendingIncoming: "KUDOS:0" }] });
      // Another write is all or nothing: refused as disk-full with nothing written, or (when LMDB
      // finds enough pages that earlier transactions freed, as a CI run once did) committed whole.
      const again = await codeOf(v.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: `big-again-${"x".repeat(400)}`, denomPubHash: "d".repeat(400), value: "KUDOS:1" }] }));
      const afterAgain = await v.exportEvents();
      if (again === undefined) {
        expect(afterAgain.slice(0, afterFull.length)).toEqual(afterFull);
        expect(afterAgain).toHaveLength(afterFull.length + 1);
        expect((afterAgain.at(-1) as { data: { coins: { coinPub: string }[] } }).data.coins[0].coinPub).toMatch(/^big-again-/);
      } else {
        expect(again).toBe("store-disk-full");
        expect(afterAgain).toEqual(afterFull);
      }
      await v.close();

      // A reopen on the full disk reads everything.
      v = await openWallet({ path, now: () => NOW });
      expect(await v.exportEvents()).toEqual(afterAgain);
      expect(balances.balances[0].currency).toBe("KUDOS");
      // Space freed: the same wallet object writes again.
      rmSync(filler, { force: true });
      await v.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "after", denomPubHash: "d", value: "KUDOS:1" }] });
      expect(await v.exportEvents()).toHaveLength(afterAgain.length + 1);
      const dump = await v.dumpProjections();
      await v.rebuild();
      expect(await v.dumpProjections()).toEqual(dump);
      await v.close();
    } finally {
      fs.unmount();
    }
  });

  it("a full disk under projections.mdb only: every request still commits its events, and the records are folded in memory from the log", async (ctx) => {
    const fs = mountTmpfs(256);
    if (typeof fs === "string") {
      console.log(`skipped: ${fs}`);
      return ctx.skip();
    }
    const path = fresh();
    try {
      // The cache's data file on the small file system, the log's beside the test's other files.
      mkdirSync(path, { recursive: true });
      symlinkSync(join(fs.dir, "projections.mdb"), join(path, "projections.mdb"));
      let v = await openWallet({ path, now: () => NOW });
      await v.addExchange({ exchangeBaseUrl: EX });
      let coins = 0;
      for (let i = 0; i < 24; i++) {
        // 1,000 coins a request: pending records pass the checkpoint limit (20k) every ten or so requests.
        await v.recordWithdrawal({ exchangeBaseUrl: EX, coins: Array.from({ length: 1_000 }, (_, k) => ({ coinPub: `c${i}-${k}-${"x".repeat(40)}`, denomPubHash: "d", value: "KUDOS:1" })) });
        coins += 1_000;
        expect(await v.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: `KUDOS:${coins}`, pendingIncoming: "KUDOS:0" }] });
      }
      const dump = await v.dumpProjections();
      const log = await v.exportEvents();
      await v.close();
      // The cache is behind the log: its checkpoints failed, and no request did.
      const env = open({ path: join(path, "projections.mdb"), readOnly: true, maxDbs: 8 });
      const projected = unsealJson<{ clock: Record<string, number> }>(env.openDB({ name: "meta", encoding: "binary" }).get("projected") as Buffer, "cache:projected", "projected");
      await env.close();
      expect(Object.values(projected.clock).reduce((a, b) => a + b, 0)).toBeLessThan(log.length);
      // Reopened on the same full file system, the missing events are folded again into memory.
      v = await openWallet({ path, now: () => NOW });
      expect(await v.exportEvents()).toEqual(log);
      expect(await v.dumpProjections()).toEqual(dump);
      await v.close();
    } finally {
      fs.unmount();
    }
  });

  it("a read-only file system: opening the wallet is store-read-only, not store-corrupt; so is creating one there", async (ctx) => {
    const fs = mountTmpfs(1024);
    if (typeof fs === "string") {
      console.log(`skipped: ${fs}`);
      return ctx.skip();
    }
    try {
      const path = join(fs.dir, "w");
      const v = await openWallet({ path, now: () => NOW });
      await v.addExchange({ exchangeBaseUrl: EX });
      await v.close();
      fs.remountReadOnly();
      expect(await codeOf(openWallet({ path }))).toBe("store-read-only");
      expect(await codeOf(openWallet({ path: join(fs.dir, "new") }))).toBe("store-read-only");
    } finally {
      fs.unmount();
    }
  });
});

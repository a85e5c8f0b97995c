// Issue 13, failure 2: a healthy wallet refused to open. After importing
// 5,000 events and open → rebuild() → close three times, the next open failed
// with store-corrupt ("truncated: … pages up to 1913 expected") although
// LMDB read all 5,000 events: the open-time file check was stricter than
// LMDB. Now it checks only what LMDB itself needs (both meta pages, the page
// size, the root pages inside the file). Also here: growth across many map
// resizes, a copied directory, and the WALLET marker that keeps a lost data
// file from being taken for a new wallet.
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import { afterAll, describe, expect, it } from "vitest";
import { verifyStore } from "../src/engine/verify-store.ts";
import { WalletError } from "../src/errors.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { appendDrafts, historyDrafts } from "./support/history.ts";
import { observeInChildren } from "./support/observe.ts";
import { tempDir } from "./support/temp-wallet.ts";

const dirs: { cleanup(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    const w = await p;
    await (w as Wallet).close();
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${String(e)}`;
  }
  return "opened";
}

/** What a host can read, for before/after comparisons. */
async function state(w: Wallet) {
  return { events: await w.exportEvents(), dump: await w.dumpProjections(), balances: await w.getBalances(), clock: await w.getVectorClock() };
}

describe("a healthy wallet opens", () => {
  it("5,000 imported events, then open → rebuild → close three times: the next open succeeds and reads everything", async () => {
    const source = fresh();
    await appendDrafts(source, historyDrafts(5_000, "src"), { deviceId: "source" });
    const src = await openWallet({ path: source });
    const events = await src.exportEvents();
    await src.close();
    expect(events).toHaveLength(5_000);

    const path = fresh();
    const w = await openWallet({ path, deviceId: "importer" });
    expect(await w.importEvents(events)).toEqual({ added: 5_000, known: 0 });
    const before = await state(w);
    await w.close();

    for (let round = 0; round < 3; round++) {
      const again = await openWallet({ path });
      await again.rebuild();
      await again.close();
    }
    const after = await openWallet({ path });
    expect(await state(after)).toEqual(before);
    await after.close();
    expect(await verifyStore(path)).toMatchObject({ ok: true, events: 5_000 });
  });

  it("a data file that ends before its meta page's last page (LMDB allows it: freed final pages need not be written) opens, reads and writes", async () => {
    // The check that refused the 5,000-event wallet compared exactly this; LMDB never reads those pages.
    const path = fresh();
    await appendDrafts(path, historyDrafts(200, "lp"), { deviceId: "lastpage" });
    const file = join(path, "wallet.mdb");
    const b = readFileSync(file);
    const meta = (pos: number) => {
      const base = [16, 24].find((o) => b.readUInt32LE(pos + o) === 0xbeefc0de)!;
      return { at: pos + base, mapSize: b.readBigUInt64LE(pos + base + 16), pageSize: b.readUInt32LE(pos + base + 24), last: b.readBigUInt64LE(pos + base + 120), txn: b.readBigUInt64LE(pos + base + 128) };
    };
    const m0 = meta(0);
    const m1 = meta(m0.pageSize);
    const newer = m1.txn > m0.txn ? m1 : m0;
    // The last page moves past the end of the file, but stays inside the map (as LMDB keeps it).
    const last = newer.mapSize / BigInt(m0.pageSize) - 1n;
    b.writeBigUInt64LE(last, newer.at + 120);
    writeFileSync(file, b);
    expect((Number(last) + 1) * m0.pageSize).toBeGreaterThan(statSync(file).size + 4 * m0.pageSize);

    const w = await openWallet({ path });
    expect(await w.exportEvents()).toHaveLength(200);
    await w.addExchange({ exchangeBaseUrl: "https://after.example/" });
    await w.rebuild();
    await w.close();
    expect(await verifyStore(path)).toMatchObject({ ok: true, events: 201 });
  });

  it("grows across several lmdb map resizes (128 KiB first map, file past 16 times that), reopening between batches", async () => {
    const path = fresh();
    const first = 128 * 1024;
    let batches = 0;
    let deviceId: string | undefined;
    for (let size = 0; size < 16 * first; size = statSync(join(path, "wallet.mdb")).size) {
      deviceId = await appendDrafts(path, historyDrafts(1_000, `b${batches}`, batches + 1), { batch: 250 });
      batches++;
      if (batches % 3 === 0) {
        const w = await openWallet({ path });
        await w.rebuild();
        await w.close();
      }
      expect(batches).toBeLessThan(100);
    }
    const w = await openWallet({ path });
    expect(w.deviceId).toBe(deviceId);
    const dump = await w.dumpProjections();
    expect((await w.exportEvents()).length).toBe(batches * 1_000);
    await w.rebuild();
    expect(await w.dumpProjections()).toEqual(dump);
    await w.close();
    expect(await verifyStore(path)).toMatchObject({ ok: true, events: batches * 1_000 });
    console.log(`map growth: ${batches} batches of 1,000 events, wallet.mdb ${statSync(join(path, "wallet.mdb")).size} bytes`);
  });

  it("a copy of a closed wallet directory opens as the same device with the same log and state, and both go on", async () => {
    const path = fresh();
    await appendDrafts(path, historyDrafts(300, "c"), { deviceId: "copied" });
    const w = await openWallet({ path });
    const before = await state(w);
    const rootPub = w.walletRootPub;
    await w.close();

    const copy = join(fresh(), "copy");
    cpSync(path, copy, { recursive: true });
    const c = await openWallet({ path: copy });
    expect(c.deviceId).toBe("copied");
    expect(c.walletRootPub).toBe(rootPub);
    expect(await state(c)).toEqual(before);
    // Another directory (another inode): the original is not locked by the copy.
    const o = await openWallet({ path });
    await c.addExchange({ exchangeBaseUrl: "https://copy.example/" });
    await o.addExchange({ exchangeBaseUrl: "https://orig.example/" });
    expect((await c.getVectorClock()).copied).toBe(301);
    await c.close();
    await o.close();
  });
});

describe("copies made by LMDB itself", () => {
  it.each([
    ["a plain copy", false],
    ["a compacted copy", true],
  ])("%s of the data file (lmdb backup) opens as the same wallet", async (_, compact) => {
    const path = fresh();
    await appendDrafts(path, historyDrafts(300, "bk"), { deviceId: "backed-up" });
    const w = await openWallet({ path });
    const before = await state(w);
    await w.close();
    const copy = fresh();
    const env = open({ path: join(path, "wallet.mdb"), readOnly: true, maxDbs: 8 });
    await env.backup(join(copy, "wallet.mdb"), compact);
    await env.close();
    cpSync(join(path, "WALLET"), join(copy, "WALLET"));
    const c = await openWallet({ path: copy });
    expect(c.deviceId).toBe("backed-up");
    expect(await state(c)).toEqual(before);
    await c.addExchange({ exchangeBaseUrl: "https://after-copy.example/" });
    await c.close();
    expect(await verifyStore(copy)).toMatchObject({ ok: true, events: 301 });
  });
});

describe("the WALLET marker: a wallet whose data file is lost is not taken for a new one", () => {
  async function wallet(): Promise<{ path: string; deviceId: string }> {
    const path = fresh();
    const w = await openWallet({ path });
    await w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
    await w.close();
    return { path, deviceId: w.deviceId };
  }

  it("the marker names the device", async () => {
    const { path, deviceId } = await wallet();
    expect(JSON.parse(readFileSync(join(path, "WALLET"), "utf8"))).toMatchObject({ deviceId });
  });

  it("wallet.mdb truncated to 0 bytes is store-corrupt, and stays 0 bytes: no new device id is made", async () => {
    const { path, deviceId } = await wallet();
    truncateSync(join(path, "wallet.mdb"), 0);
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
    expect(statSync(join(path, "wallet.mdb")).size).toBe(0);
    expect(JSON.parse(readFileSync(join(path, "WALLET"), "utf8")).deviceId).toBe(deviceId);
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
  });

  it("wallet.mdb missing beside the marker is store-corrupt, and is not re-created", async () => {
    const { path } = await wallet();
    rmSync(join(path, "wallet.mdb"));
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
    expect(() => statSync(join(path, "wallet.mdb"))).toThrow();
  });

  it("a damaged marker (not the JSON it should be) is store-corrupt", async () => {
    const { path } = await wallet();
    writeFileSync(join(path, "WALLET"), "\u0000garbage");
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
  });

  it("a marker that is a directory is refused with a WalletError, not a raw error", async () => {
    const { path } = await wallet();
    rmSync(join(path, "WALLET"));
    mkdirSync(join(path, "WALLET"));
    expect(await codeOf(openWallet({ path }))).toMatch(/^store-(corrupt|open-failed)$/);
  });

  it("the data file of a wallet without its marker (a wallet of before the marker) opens and gains the marker", async () => {
    const { path, deviceId } = await wallet();
    rmSync(join(path, "WALLET"));
    const w = await openWallet({ path });
    expect(w.deviceId).toBe(deviceId);
    await w.close();
    expect(JSON.parse(readFileSync(join(path, "WALLET"), "utf8")).deviceId).toBe(deviceId);
  });

  it("the lock file replaced by a directory is store-corrupt, without a crash (observed in a child process)", async () => {
    const { path } = await wallet();
    rmSync(join(path, "wallet.mdb-lock"));
    mkdirSync(join(path, "wallet.mdb-lock"));
    const seen = (await observeInChildren([path])).get(path)!;
    expect(seen).toMatchObject({ outcome: "refused", step: "open", code: "store-corrupt" });
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
  });
});

// Issue 13, failure 5: damage went unnoticed. Of 60 random byte flips in
// wallet.mdb, 17 were silent (a broken chain served, projections unlike a
// rebuild), 16 were refused with raw lmdb errors and 4 crashed the process; a
// coin record edited from KUDOS:4 to KUDOS:9 let a spend of KUDOS:8 through; a
// wallet.mdb truncated to 0 bytes opened as a new empty wallet with a new
// device id. Now every value carries a checksum bound to its key, heads are
// checked at open, and verifyStore walks the whole store in a child process.
//
// The byte-flip suite: a real wallet.mdb of a few hundred events, one seeded
// byte flip per copy. Each copy is opened and fully observed in a child
// process (a native crash there is a finding, not the end of the run), and
// verified with verifyStore. No case may answer differently from the
// undamaged wallet without either side noticing. SOAK=1 runs 200 flips.
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
// @ts-expect-error lmdb exports its key codec without declaring it
import { bufferToKeyValue, open } from "lmdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyStore, type VerifyStoreResult } from "../src/engine/verify-store.ts";
import { PROJECTIONS } from "../src/projections/index.ts";
import { openStore } from "../src/events/store.ts";
import { WalletError } from "../src/errors.ts";
import { openWallet } from "../src/wallet.ts";
import { appendDrafts, historyDrafts, seeded } from "./support/history.ts";
import { observeInChildren, type Observed } from "./support/observe.ts";
import { tempDir } from "./support/temp-wallet.ts";

const SOAK = process.env.SOAK === "1";
const FLIPS = Number(process.env.DAMAGE_FLIPS ?? (SOAK ? 200 : 12));
const SEED = Number(process.env.DAMAGE_SEED ?? 13);
const EX = "https://a.example/";

const dirs: { path: string; cleanup(): void }[] = [];
/** Case directories (below a temp dir) to leave in place: the copies that failed. */
const keep = new Set<string>();
afterAll(() => dirs.forEach((d) => ![...keep].some((k) => k.startsWith(`${d.path}/`)) && d.cleanup()));
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};

/** A wallet with a few hundred events of two devices, a double-spend conflict and device-local events. */
async function referenceWallet(path: string): Promise<void> {
  const store = await openStore({ path, deviceId: "damaged", projections: PROJECTIONS });
  const drafts = historyDrafts(300, "ref", 7);
  for (let i = 0; i < drafts.length; i += 20) {
    store.write((tx) => {
      tx.appendOwn(drafts.slice(i, i + 20), Date.UTC(2025, 0, 1) + i);
      tx.appendLocal({ type: "exchange-update-attempted", data: { url: EX } }, Date.UTC(2025, 0, 1) + i);
      tx.appendLocal({ type: "exchange-update-settled", data: { url: EX, ok: i % 40 === 0 } }, Date.UTC(2025, 0, 1) + i);
    });
  }
  await store.close();
  // A second device spends a coin this one spends too: a conflict in the state.
  const w = await openWallet({ path, now: () => Date.UTC(2025, 0, 2) });
  await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "conflict-wg", coins: [{ coinPub: "conflict-coin", denomPubHash: "d", value: "KUDOS:4" }] });
  const peerDir = fresh();
  const peer = await openWallet({ path: peerDir, deviceId: "peer", now: () => Date.UTC(2025, 0, 2) });
  await peer.importEvents(await w.exportEvents());
  await peer.recordSpend({ coinPub: "conflict-coin", amount: "KUDOS:3", spendId: "peer-spend" });
  await w.recordSpend({ coinPub: "conflict-coin", amount: "KUDOS:3", spendId: "own-spend" });
  await w.importEvents(await peer.exportEvents());
  expect((await w.listConflicts()).conflicts).toHaveLength(1);
  await peer.close();
  await w.close();
}

type Verdict = "identical-to-reference" | "refused-with-code" | "crashed" | "verifyStore-reports-corrupt" | "WRONG" | "RAW-ERROR";

function sameAnswers(a: Observed, b: Observed): boolean {
  if (a.outcome !== "observed" || b.outcome !== "observed") return false;
  const keys = ["deviceId", "events", "eventCount", "dump", "balances", "conflicts", "clock", "rebuiltDump"] as const;
  return keys.every((k) => a[k] === b[k]);
}

function verdictOf(seen: Observed, reference: Observed, verified: VerifyStoreResult): Verdict {
  switch (seen.outcome) {
    case "crashed":
      return "crashed";
    case "raw":
      return "RAW-ERROR";
    case "refused":
      return "refused-with-code";
    case "observed":
      if (sameAnswers(seen, reference)) return "identical-to-reference";
      return verified.ok ? "WRONG" : "verifyStore-reports-corrupt";
    default: {
      const never: never = seen;
      return never;
    }
  }
}

/** Runs `f` over `items` with at most `n` at a time. */
async function pool<T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

describe("seeded byte flips in wallet.mdb", () => {
  let reference: string;
  let referenceSeen: Observed;
  beforeAll(async () => {
    reference = fresh();
    await referenceWallet(reference);
    referenceSeen = (await observeInChildren([reference])).get(reference)!;
  });

  it(`no flip (${FLIPS}, seed ${SEED}) gives a different answer unnoticed, and no raw error surfaces`, async () => {
    expect(referenceSeen).toMatchObject({ outcome: "observed", deviceId: "damaged" });
    expect(await verifyStore(reference)).toMatchObject({ ok: true });
    const file = readFileSync(join(reference, "wallet.mdb"));
    const pageSize = file.readUInt32LE(24 + 24) || 4096;
    const random = seeded(SEED);

    const cases: { dir: string; at: number; was: number; now: number }[] = [];
    // Where a flip can matter: the meta records of the two meta pages (roots, txn ids), or a byte in use
    // (a zero byte is most often the free middle of a page, which nothing reads).
    const META = 16;
    const META_LEN = 160;
    const pick = (i: number): number => {
      if (i % 6 === 0) return (random(2) * pageSize) + META + random(META_LEN);
      let at = random(file.length);
      for (let tries = 0; tries < 8 && file[at] === 0; tries++) at = random(file.length);
      return at;
    };
    for (let i = 0; i < FLIPS; i++) {
      const at = pick(i);
      const was = file[at];
      const now = was ^ (1 + random(255));
      const dir = join(fresh(), "w");
      cpSync(reference, dir, { recursive: true });
      const bytes = Buffer.from(file);
      bytes[at] = now;
      writeFileSync(join(dir, "wallet.mdb"), bytes);
      cases.push({ dir, at, was, now });
    }

    const seen = await observeInChildren(cases.map((c) => c.dir));
    const verified = await pool(cases, 2, (c) => verifyStore(c.dir, { timeoutMs: 30_000 }));
    const counts = new Map<Verdict, number>();
    const lines: string[] = [];
    const bad: string[] = [];
    for (const [i, c] of cases.entries()) {
      const s = seen.get(c.dir)!;
      const v = verdictOf(s, referenceSeen, verified[i]);
      counts.set(v, (counts.get(v) ?? 0) + 1);
      const detail = s.outcome === "refused" ? `${s.step}: ${s.code}` : s.outcome === "crashed" ? s.signal : s.outcome === "raw" ? `${s.step}: ${s.error}` : "";
      const line = `byte ${c.at} (page ${Math.floor(c.at / pageSize)}) ${c.was.toString(16)}→${c.now.toString(16)}: ${v}${detail ? ` (${detail})` : ""}; verifyStore ${verified[i].ok ? "ok" : `corrupt: ${verified[i].ok ? "" : (verified[i] as { problems: string[] }).problems[0]?.slice(0, 120)}`}`;
      lines.push(line);
      if (v === "WRONG" || v === "RAW-ERROR") bad.push(line);
    }
    const verifyCounts = { ok: verified.filter((v) => v.ok).length, corrupt: verified.filter((v) => !v.ok).length };
    console.log(`byte flips (${FLIPS}, seed ${SEED}, file ${file.length} bytes): ${JSON.stringify(Object.fromEntries(counts))}; verifyStore ${JSON.stringify(verifyCounts)}\n${lines.join("\n")}`);
    if (bad.length > 0) {
      // Keep the damaged copies of failing cases for reproduction: the layout of the reference file varies from run to run.
      for (const c of cases) if (bad.some((l) => l.startsWith(`byte ${c.at} `))) keep.add(c.dir);
      console.log(`kept for reproduction: ${[...keep].join(" ")}`);
    }
    expect(bad, bad.join("\n")).toEqual([]);
    // verifyStore never passes a store whose reader crashed or that the wallet refused as damaged.
    const missed = cases.filter((c, i) => {
      const s = seen.get(c.dir)!;
      return verified[i].ok && (s.outcome === "crashed" || (s.outcome === "refused" && ["store-corrupt", "store-foreign"].includes(s.code)));
    });
    for (const c of missed) keep.add(c.dir);
    expect(missed.map((c) => `byte ${c.at}: verifyStore ok, the wallet did not open or read it (${c.dir})`)).toEqual([]);
  }, 60_000 + FLIPS * 5_000);
});

describe("deliberate damage", () => {
  async function wallet() {
    const path = fresh();
    const w = await openWallet({ path });
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "g", coins: [{ coinPub: "coin", denomPubHash: "d", value: "KUDOS:4" }] });
    await w.close();
    return path;
  }
  /** Rewrites the stored coin record's value with lmdb directly; `reseal` recomputes the checksum as a forger would. */
  async function editCoin(path: string, value: string, reseal: boolean) {
    const env = open({ path: join(path, "projections.mdb"), maxDbs: 8, encoding: "binary" });
    const proj = env.openDB({ name: "proj", encoding: "binary" });
    const stored = proj.get(["coin", "coin"]) as Buffer;
    const record = JSON.parse(stored.subarray(4).toString("utf8")) as unknown[];
    expect(record).toContain("KUDOS:4");
    const payload = Buffer.from(JSON.stringify(record.map((x) => (x === "KUDOS:4" ? value : x))));
    const { seal } = await import("../src/events/sealed-value.ts");
    const edited = reseal ? seal(payload, "coin\u0000coin") : Buffer.concat([stored.subarray(0, 4), payload]);
    // The key tag the store seals records under is right: the untouched record reseals to its stored bytes.
    expect(seal(stored.subarray(4), "coin\u0000coin")).toEqual(stored);
    await proj.put(["coin", "coin"], edited);
    await env.close();
  }
  async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
    try {
      await p;
    } catch (e) {
      return e instanceof WalletError ? e.code : `raw:${String(e)}`;
    }
    return undefined;
  }

  it("a coin record edited from KUDOS:4 to KUDOS:9 (old checksum kept) is store-corrupt: no spend of KUDOS:8 goes through", async () => {
    const path = await wallet();
    await editCoin(path, "KUDOS:9", false);
    const w = await openWallet({ path });
    try {
      expect(await codeOf(w.recordSpend({ coinPub: "coin", amount: "KUDOS:8" }))).toBe("store-corrupt");
      expect(await codeOf(w.getCoin({ coinPub: "coin" }))).toBe("store-corrupt");
      // The log is intact: a rebuild repairs the projections from it.
      await w.rebuild();
      expect(await w.getCoin({ coinPub: "coin" })).toMatchObject({ value: "KUDOS:4", remaining: "KUDOS:4" });
      expect(await codeOf(w.recordSpend({ coinPub: "coin", amount: "KUDOS:8" }))).toBe("coin-overspent");
    } finally {
      await w.close();
    }
    expect(await verifyStore(path)).toMatchObject({ ok: true });
  });

  it("a logged event edited on disk (old checksum kept) is store-corrupt when a peer sends the original again, not an equivocation", async () => {
    const path = await wallet();
    const w = await openWallet({ path });
    // A later event, so the edited one is not the head (which opening checks against its hash).
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "g2", coins: [{ coinPub: "coin2", denomPubHash: "d", value: "KUDOS:1" }] });
    const log = await w.exportEvents();
    const deviceId = log[1].device;
    await w.close();
    const env = open({ path: join(path, "wallet.mdb"), maxDbs: 8, encoding: "binary" });
    const db = env.openDB({ name: "log", encoding: "binary" });
    const stored = db.get([deviceId, 2]) as Buffer;
    const text = stored.subarray(4).toString("utf8");
    expect(text).toContain("KUDOS:4");
    await db.put([deviceId, 2], Buffer.concat([stored.subarray(0, 4), Buffer.from(text.replace("KUDOS:4", "KUDOS:9"))]));
    await env.close();
    const peer = await openWallet({ path: fresh(), deviceId: "peer" });
    await peer.importEvents(log);
    const again = await openWallet({ path });
    try {
      expect(await codeOf(again.importEvents(await peer.exportEvents()))).toBe("store-corrupt");
    } finally {
      await again.close();
      await peer.close();
    }
  });

  // Fails while the store lets a key that lmdb cannot decode (a damaged first byte: lmdb-js reads it as a
  // BigInt and throws a RangeError) escape from its range reads: the caller gets internal-error.
  it("a record key whose first byte is damaged (lmdb-js cannot decode it) is store-corrupt, not internal-error", async () => {
    const path = await wallet();
    const env = open({ path: join(path, "projections.mdb"), maxDbs: 8, encoding: "binary" });
    const raw = env.openDB({ name: "proj", encoding: "binary", keyEncoding: "binary" });
    // The first key that a damaged first byte makes undecodable (as seeded byte flips found in a soak run).
    const undecodable = (k: Buffer) => {
      const d = Buffer.from(k);
      d[0] = 0x0d;
      try {
        bufferToKeyValue(d);
        return undefined;
      } catch {
        return d;
      }
    };
    const key = [...raw.getKeys({})].map((k) => k as Buffer).find((k) => undecodable(k) !== undefined)!;
    expect(key).toBeDefined();
    const damagedKey = undecodable(key)!;
    expect(() => bufferToKeyValue(damagedKey)).toThrow(RangeError);
    const value = raw.get(key) as Buffer;
    await raw.remove(key);
    await raw.put(damagedKey, value);
    await env.close();

    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
    const seen = (await observeInChildren([path])).get(path)!;
    expect(seen, JSON.stringify(seen)).toMatchObject({ outcome: "refused", code: "store-corrupt" });
  });

  it("the same edit with a recomputed checksum is caught by verifyStore (the record differs from a fold of the log)", async () => {
    const path = await wallet();
    await editCoin(path, "KUDOS:9", true);
    const r = await verifyStore(path);
    expect(r).toMatchObject({ ok: false, code: "store-corrupt" });
    expect((r as { problems: string[] }).problems.join("\n")).toMatch(/record coin\/coin: differs from a fold of the log/);
  });

  it("wallet.mdb truncated to 0 bytes is store-corrupt; the device id is never re-created", async () => {
    const path = await wallet();
    const deviceId = JSON.parse(readFileSync(join(path, "WALLET"), "utf8")).deviceId as string;
    truncateSync(join(path, "wallet.mdb"), 0);
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
    expect(statSync(join(path, "wallet.mdb")).size).toBe(0);
    expect(JSON.parse(readFileSync(join(path, "WALLET"), "utf8")).deviceId).toBe(deviceId);
  });

  it("one flipped byte in a meta page's last-page number (the older meta page, which readers skip) is store-corrupt at open and in verifyStore, not a hang or a crash", async () => {
    const path = await wallet();
    const file = join(path, "wallet.mdb");
    const b = readFileSync(file);
    const base = [16, 24].find((o) => b.readUInt32LE(o) === 0xbeefc0de)!;
    const pageSize = b.readUInt32LE(base + 24);
    const txn = (page: number) => b.readBigUInt64LE(page * pageSize + base + 128);
    const older = txn(0) < txn(1) ? 0 : 1;
    b[older * pageSize + base + 127] ^= 0x61;
    writeFileSync(file, b);
    const seen = (await observeInChildren([path])).get(path)!;
    expect(seen).toMatchObject({ outcome: "refused", step: "open", code: "store-corrupt" });
    expect(await verifyStore(path, { timeoutMs: 30_000 })).toMatchObject({ ok: false, code: "store-corrupt" });
  });

  it("the older meta page's transaction id raised past the newer one (LMDB would serve the older state) is store-corrupt, not a silent rollback", async () => {
    const path = await wallet();
    const file = join(path, "wallet.mdb");
    const b = readFileSync(file);
    const base = [16, 24].find((o) => b.readUInt32LE(o) === 0xbeefc0de)!;
    const pageSize = b.readUInt32LE(base + 24);
    const txn = (page: number) => b.readBigUInt64LE(page * pageSize + base + 128);
    const older = txn(0) < txn(1) ? 0 : 1;
    b[older * pageSize + base + 128 + 2] ^= 0x01;
    writeFileSync(file, b);
    expect(txn(older)).toBeGreaterThan(txn(1 - older));
    expect(await codeOf(openWallet({ path }))).toBe("store-corrupt");
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
  });

  it("branch pages pointing past the end of the file (lmdb faults or aborts on them): a reader in a child is refused with store-corrupt or crashes, and verifyStore reports store-corrupt instead of dying", async () => {
    const path = fresh();
    await appendDrafts(path, historyDrafts(2_000, "bus"), { deviceId: "crashing" });
    const file = join(path, "wallet.mdb");
    const b = readFileSync(file);
    const base = [16, 24].find((o) => b.readUInt32LE(o) === 0xbeefc0de)!;
    const pageSize = b.readUInt32LE(base + 24);
    const header = base; // the page header is as long as the offset of the meta record
    // Both meta pages: the last page moves to the end of the map (legal, as the open tests show) …
    const map = [0, 1].map((p) => b.readBigUInt64LE(p * pageSize + base + 16));
    const target = Number(map[0] < map[1] ? map[0] : map[1]) / pageSize - 1;
    for (const p of [0, 1]) b.writeBigUInt64LE(BigInt(target), p * pageSize + base + 120);
    // … and every child pointer of every branch page points there, past the end of the file.
    let branches = 0;
    for (let p = 2; p < b.length / pageSize; p++) {
      const o = p * pageSize;
      if (b.readBigUInt64LE(o) !== BigInt(p) || (b.readUInt16LE(o + header - 6) & 0x01) === 0) continue;
      const keys = (b.readUInt16LE(o + header - 4) - header) >> 1;
      for (let k = 0; k < keys; k++) {
        const node = o + b.readUInt16LE(o + header + 2 * k);
        b.writeUInt16LE(target & 0xffff, node);
        b.writeUInt16LE(target >>> 16, node + 2);
        b.writeUInt16LE(0, node + 4);
      }
      branches++;
    }
    expect(branches).toBeGreaterThan(0);
    expect((target + 1) * pageSize).toBeGreaterThan(b.length);
    writeFileSync(file, b);

    const seen = (await observeInChildren([path])).get(path)!;
    expect(["crashed", "refused"], JSON.stringify(seen)).toContain(seen.outcome);
    if (seen.outcome === "refused") expect(seen.code).toBe("store-corrupt");
    const r = await verifyStore(path, { timeoutMs: 30_000 });
    expect(r).toMatchObject({ ok: false, code: "store-corrupt" });
    if (seen.outcome === "crashed") expect((r as { problems: string[] }).problems[0]).toMatch(/crashed \(SIG[A-Z]+\)/);
    console.log(`lmdb on branch pages past the end: reader ${seen.outcome === "crashed" ? `crashed (${seen.signal})` : `refused (${seen.outcome === "refused" ? seen.code : ""})`}; verifyStore: ${(r as { problems: string[] }).problems[0]}`);
  });

  it("wallet.mdb cut short (half its pages) is refused or reported, never a crash of the host", async () => {
    const path = await wallet();
    const size = statSync(join(path, "wallet.mdb")).size;
    truncateSync(join(path, "wallet.mdb"), Math.floor(size / 2 / 4096) * 4096);
    const seen = (await observeInChildren([path])).get(path)!;
    expect(["refused", "crashed"]).toContain(seen.outcome);
    if (seen.outcome === "refused") expect(seen.code).toBe("store-corrupt");
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
  });
});

describe("verifyStore", () => {
  it("reports a healthy wallet with its counts, also while the wallet is open for writing", async () => {
    const path = fresh();
    await appendDrafts(path, historyDrafts(50, "v"), { deviceId: "verified" });
    const w = await openWallet({ path });
    await w.addExchange({ exchangeBaseUrl: "https://v.example/" });
    expect(await verifyStore(path)).toEqual({ ok: true, events: 51, records: expect.any(Number) });
    await w.close();
  });

  it("reports a directory without a wallet, and a walk that runs out of time, as store-corrupt", async () => {
    expect(await verifyStore(fresh())).toMatchObject({ ok: false, code: "store-corrupt" });
    const path = fresh();
    await appendDrafts(path, historyDrafts(50, "t"));
    const r = await verifyStore(path, { timeoutMs: 1 });
    expect(r).toMatchObject({ ok: false, code: "store-corrupt" });
    expect((r as { problems: string[] }).problems[0]).toMatch(/did not finish within 1 ms/);
  });

  it("refuses arguments that are not a path or a timeout with request-invalid", async () => {
    for (const [p, o] of [["", {}], [5, {}], ["/tmp", { timeoutMs: 0 }], ["/tmp", { timeoutMs: 1.5 }]] as const) {
      await expect(verifyStore(p as never, o as never)).rejects.toMatchObject({ code: "request-invalid" });
    }
  });
});

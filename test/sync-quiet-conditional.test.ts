// A quiet cycle asks the provider with a conditional GET (If-None-Match = the
// hash of the backup this device last stored or merged): while the provider
// holds that one it answers 304 without the body, so quiet devices do not
// download their whole backup every cycle. Another device's upload still
// comes down and is merged.
import { afterEach, expect, it } from "vitest";
import { randomBytes } from "../src/codec/keys.ts";
import { deriveSyncAccountKey, syncDownload, syncUpload } from "../src/transport/sync-client.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex0.test/";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(): Promise<SyncServer & { lines: string[] }> {
  const d = tempDir();
  cleanups.push(d.cleanup);
  const lines: string[] = [];
  const s = await startSyncServer({ port: 0, host: "127.0.0.1", path: d.path, log: (l) => lines.push(l) });
  cleanups.push(() => s.close());
  return Object.assign(s, { lines });
}

async function wallet(deviceId: string): Promise<Wallet> {
  const d = tempDir();
  cleanups.push(d.cleanup);
  const w = await openWallet({ path: d.path, deviceId, httpTimeoutMs: 5_000 });
  cleanups.push(() => w.close());
  return w;
}

/** The server's log lines for GET /backups/…: [status, body bytes sent]. */
function gets(lines: string[]): [number, number][] {
  return lines
    .filter((l) => l.startsWith("GET /backups/"))
    .map((l) => {
      const m = /^GET \S+ (\d+) in=\d+B out=(\d+)B/.exec(l);
      if (!m) throw new Error(`unexpected log line ${l}`);
      return [Number(m[1]), Number(m[2])];
    });
}

it("syncDownload with ifNoneMatch: 304 → not-modified, no body; another hash → the backup; quoted or not", async () => {
  const s = await server();
  const k = deriveSyncAccountKey(randomBytes(32), s.baseUrl);
  const up = await syncUpload(fetch, s.baseUrl, k.seed, randomBytes(5000));
  if (up.kind !== "stored") throw new Error(JSON.stringify(up));
  s.lines.length = 0;
  expect(await syncDownload(fetch, s.baseUrl, k.seed, { ifNoneMatch: up.hash })).toEqual({ kind: "not-modified", hash: up.hash });
  expect(await syncDownload(fetch, s.baseUrl, k.seed, { ifNoneMatch: `"${up.hash}"` })).toEqual({ kind: "not-modified", hash: up.hash });
  const other = await syncUpload(fetch, s.baseUrl, randomBytes(32), randomBytes(10)); // another account: only its hash matters
  if (other.kind !== "stored") throw new Error(JSON.stringify(other));
  const full = await syncDownload(fetch, s.baseUrl, k.seed, { ifNoneMatch: other.hash });
  expect(full.kind === "ok" && full.hash).toBe(up.hash);
  expect(gets(s.lines)).toEqual([
    [304, 0],
    [304, 0],
    [200, 5000],
  ]);
  expect(await syncDownload(fetch, s.baseUrl, k.seed, { ifNoneMatch: "not-a-hash" })).toMatchObject({ kind: "error", code: "sync-invalid-hash" });
  // Without ifNoneMatch nothing changes: the backup, every time.
  expect((await syncDownload(fetch, s.baseUrl, k.seed)).kind).toBe("ok");
});

it("quiet cycles get 304 without the body; after another device uploads, the next cycle downloads and merges", async () => {
  const s = await server();
  const a = await wallet("a");
  await a.addExchange({ exchangeBaseUrl: EX });
  await a.recordWithdrawal({
    exchangeBaseUrl: EX,
    coins: Array.from({ length: 200 }, (_, i) => ({ coinPub: `COIN-${i}`, denomPubHash: "denom-1", value: "KUDOS:1" })),
  });
  await a.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
  expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "stored", uploads: 1 });

  s.lines.length = 0;
  for (let i = 0; i < 3; i++) {
    expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 0 });
  }
  expect(gets(s.lines)).toEqual([
    [304, 0],
    [304, 0],
    [304, 0],
  ]);
  expect(s.lines.filter((l) => l.startsWith("POST "))).toEqual([]);

  // Another device of the same person stores a newer backup.
  const b = await wallet("b");
  await b.loadBackupRecovery({ recovery: await a.getBackupRecovery(), strategy: "theirs" });
  await b.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "COIN-B", denomPubHash: "denom-1", value: "KUDOS:7" }] });
  const rb = await b.runBackupCycle();
  expect(rb.providers[0].outcome, JSON.stringify(rb)).toBe("stored");
  const newHash = (await b.getBackupInfo()).providers[0].lastBackupHash;

  s.lines.length = 0;
  const r = await a.runBackupCycle();
  expect(r.providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 1 });
  const [[status, bytes]] = gets(s.lines);
  expect(status).toBe(200);
  expect(bytes).toBeGreaterThan(0);
  expect((await a.getBalances()).balances).toEqual((await b.getBalances()).balances);
  expect((await a.getBackupInfo()).providers[0].lastBackupHash).toBe(newHash);

  // And quiet again: the conditional GET names the merged backup's hash.
  s.lines.length = 0;
  expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 0 });
  expect(gets(s.lines)).toEqual([[304, 0]]);
});

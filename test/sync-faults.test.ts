// The backup cycle when the provider misbehaves, through a fault proxy in
// front of a real sync server: a server that dies after storing and before
// answering, 500s, an answer cut mid-body, a server slower than the client's
// deadline, a blob signed with the wrong key, another account's blob, and a
// 409 storm from a second device. Each is reported on the provider (never
// thrown), merges nothing it could not verify, and once the provider behaves
// the devices converge with every event on the server exactly once.
import { afterEach, describe, expect, it } from "vitest";
import { decodeCrock } from "../src/codec/crockford.ts";
import { randomBytes } from "../src/codec/keys.ts";
import { dotName } from "../src/events/clock.ts";
import { decryptBackupFile, deriveSyncAccountKey, readBackupContent, syncDownload } from "../src/index.ts";
import { parseHashHeader, signSyncUpload } from "../src/transport/sync-protocol.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { startFaultProxy, type FaultProxy, type Forwarded } from "./support/fault-proxy.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex0.test/";
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Setup {
  server: () => SyncServer;
  restart(): Promise<void>;
  kill(): Promise<void>;
  proxy: FaultProxy;
  a: Wallet;
  b: Wallet;
}

let coinN = 0;
async function withdraw(w: Wallet): Promise<void> {
  await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: `coin-${++coinN}`, denomPubHash: "d", value: "KUDOS:1" }] });
}

async function openDevice(deviceId: string, httpTimeoutMs = 2_000): Promise<Wallet> {
  const d = tempDir();
  const w = await openWallet({ path: d.path, deviceId, now: () => NOW, httpTimeoutMs });
  cleanups.push(async () => {
    await w.close();
    d.cleanup();
  });
  return w;
}

/** Device b withdraws and stores a backup that a has not seen yet. */
async function bStoresNews(s: Setup): Promise<void> {
  await withdraw(s.b);
  expect((await s.b.runBackupCycle()).providers[0].outcome).toBe("stored");
}

/** A server behind a proxy; device a stores a first backup through it, device b joins from a's recovery. */
async function setup(opts: { httpTimeoutMs?: number } = {}): Promise<Setup> {
  const data = tempDir();
  cleanups.push(data.cleanup);
  let server = await startSyncServer({ port: 0, host: "127.0.0.1", path: data.path });
  const port = Number(new URL(server.baseUrl).port);
  let alive = true;
  cleanups.push(() => alive && server.close());
  const proxy = await startFaultProxy(() => server.baseUrl);
  cleanups.push(() => proxy.close());
  const a = await openDevice("a", opts.httpTimeoutMs);
  await a.addExchange({ exchangeBaseUrl: EX });
  await withdraw(a);
  await a.addBackupProvider({ backupProviderBaseUrl: proxy.baseUrl, activate: true });
  expect((await a.runBackupCycle()).providers[0].outcome).toBe("stored");
  const b = await openDevice("b", opts.httpTimeoutMs);
  await b.loadBackupRecovery({ recovery: await a.getBackupRecovery(), strategy: "theirs" });
  return {
    server: () => server,
    proxy,
    a,
    b,
    async kill() {
      alive = false;
      await server.close();
    },
    async restart() {
      server = await startSyncServer({ port, host: "127.0.0.1", path: data.path });
      alive = true;
    },
  };
}

/** The log the server holds for the devices' account, as dots. */
async function serverDots(s: Setup): Promise<string[]> {
  const root = (await s.a.getBackupRecovery()).walletRootPriv;
  const d = await syncDownload(fetch, s.server().baseUrl, deriveSyncAccountKey(decodeCrock(root), s.proxy.baseUrl).seed);
  if (d.kind !== "ok") throw new Error(`nothing stored: ${JSON.stringify(d)}`);
  return [...readBackupContent(decryptBackupFile(d.blob, root)).log.events()].map(dotName);
}

/** With the provider healthy again: cycles until quiet, then one log everywhere, on the server exactly once. */
async function convergesCleanly(s: Setup): Promise<void> {
  s.proxy.fault = undefined;
  for (let round = 0; ; round++) {
    expect(round, "not quiet after 5 rounds").toBeLessThan(5);
    const rs = [await s.a.runBackupCycle({ force: true }), await s.b.runBackupCycle({ force: true })];
    for (const r of rs) expect(r.providers[0].outcome).not.toBe("failed");
    if (rs.every((r) => r.providers[0].outcome === "unchanged" && r.providers[0].merged === 0)) break;
  }
  const clock = await s.a.getVectorClock();
  expect(await s.b.getVectorClock()).toEqual(clock);
  expect(await s.b.getBalances()).toEqual(await s.a.getBalances());
  const dots = await serverDots(s);
  expect(new Set(dots).size).toBe(dots.length);
  expect(dots.sort()).toEqual((await s.a.exportEvents()).map(dotName).sort());
  expect(dots.length).toBe(Object.values(clock).reduce((x, y) => x + y, 0));
}

const json = (status: number, body: unknown): Forwarded => ({ status, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify(body)) });
const isPost = (r: { method: string }) => r.method === "POST";

describe("faults in a backup cycle", () => {
  it("the server dies after storing and before answering: the failure is recorded; after the restart the stored backup is recognised as ours", async () => {
    const s = await setup();
    await withdraw(s.a);
    const clock = await s.a.getVectorClock();
    s.proxy.fault = async (r, forward) => {
      if (!isPost(r)) return forward();
      await forward();
      await s.kill();
      return "drop";
    };
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-network-error" } });
    expect(await s.a.getVectorClock()).toEqual(clock);
    await s.restart();
    s.proxy.fault = undefined;
    // Its upload did land: the retry's If-Match is stale, the 409 carries our own backup, and nothing is left to upload.
    const again = await s.a.runBackupCycle({ force: true });
    expect(again.providers[0]).toMatchObject({ outcome: "unchanged", merged: 0, uploads: 1 });
    expect((await serverDots(s)).length).toBe(3);
    await convergesCleanly(s);
  });

  it("500s are recorded with their status and backed off; nothing is lost", async () => {
    const s = await setup();
    await withdraw(s.a);
    s.proxy.fault = async () => json(500, { code: 1, hint: "boom" });
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-http-error" } });
    const p = (await s.a.getBackupInfo()).providers[0];
    expect(p.lastError).toMatchObject({ code: "sync-http-error", httpStatus: 500 });
    expect(p.retryAt).toBeGreaterThan(NOW);
    expect((await s.a.runBackupCycle()).providers[0].outcome).toBe("skipped");
    await convergesCleanly(s);
    expect((await s.a.getBackupInfo()).providers[0].lastError).toBeUndefined();
  });

  it("a 409 whose body is cut mid-way, and a download cut mid-way, merge nothing", async () => {
    const s = await setup();
    await bStoresNews(s);
    await withdraw(s.a);
    const clock = await s.a.getVectorClock();
    s.proxy.fault = async (r, forward) => {
      const out = await forward();
      return out.body.length > 100 ? { cut: out } : out;
    };
    const r = await s.a.runBackupCycle();
    expect(r.providers[0].outcome).toBe("failed");
    expect(r.providers[0].error?.code).toMatch(/^sync-(network-error|malformed-response)$/);
    expect(await s.a.getVectorClock()).toEqual(clock);
    // The quiet path's download, cut the same way.
    const c = await openDevice("c");
    await c.loadBackupRecovery({ recovery: { ...(await s.a.getBackupRecovery()), providers: [] }, strategy: "theirs" });
    await convergesCleanly(s);
    await bStoresNews(s);
    const before = await s.a.getVectorClock();
    s.proxy.fault = async (r, forward) => {
      const out = await forward();
      return r.method === "GET" && out.status === 200 ? { cut: out } : out;
    };
    expect((await s.a.runBackupCycle({ force: true })).providers[0].outcome).toBe("failed");
    expect(await s.a.getVectorClock()).toEqual(before);
    await convergesCleanly(s);
  });

  it("a server slower than the client's deadline: sync-timeout, recorded", async () => {
    const s = await setup({ httpTimeoutMs: 300 });
    await withdraw(s.a);
    s.proxy.fault = async (_r, forward) => {
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      return forward();
    };
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-timeout" } });
    expect((await s.a.getBackupInfo()).providers[0].lastError?.code).toBe("sync-timeout");
    // Let the stalled upload land before the proxy is healthy again, so what follows is deterministic.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await convergesCleanly(s);
  });

  it("a backup signed with the wrong key is refused (sync-bad-signature) and not merged", async () => {
    const s = await setup();
    await bStoresNews(s);
    await withdraw(s.a);
    const clock = await s.a.getVectorClock();
    s.proxy.fault = async (_r, forward) => {
      const out = await forward();
      if (out.status !== 409 && out.status !== 200) return out;
      // A valid signature over the same struct, by a key that is not the account's.
      const forged = signSyncUpload(randomBytes(32), parseHashHeader(out.headers["sync-previous"]), parseHashHeader(out.headers.etag)!);
      return { ...out, headers: { ...out.headers, "sync-signature": forged } };
    };
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-bad-signature" } });
    expect(await s.a.getVectorClock()).toEqual(clock);
    await convergesCleanly(s);
  });

  it("a server that answers with another account's backup is caught by the signature check", async () => {
    const s = await setup();
    const stranger = await openDevice("stranger");
    await stranger.addExchange({ exchangeBaseUrl: "https://stranger.test/" });
    await stranger.addBackupProvider({ backupProviderBaseUrl: s.proxy.baseUrl, activate: true });
    expect((await stranger.runBackupCycle()).providers[0].outcome).toBe("stored");
    const strangerAccount = deriveSyncAccountKey(decodeCrock((await stranger.getBackupRecovery()).walletRootPriv), s.proxy.baseUrl).pub;
    await bStoresNews(s);
    const clock = await s.a.getVectorClock();
    // a is quiet, so its cycle downloads; the server hands it the stranger's backup.
    s.proxy.fault = async (r, forward) => (r.method === "GET" ? forward({ path: `/backups/${strangerAccount}` }) : forward());
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-bad-signature" } });
    expect(await s.a.getVectorClock()).toEqual(clock);
    expect((await s.a.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).not.toContain("https://stranger.test/");
    await convergesCleanly(s);
  });

  it("a recovery that switches the root key while a cycle waits on the network stops that cycle: nothing is stored under the old account with the new key", async () => {
    const s = await setup();
    await withdraw(s.a);
    const other = await openDevice("other");
    const otherRecovery = await other.getBackupRecovery();
    const oldRoot = (await s.a.getBackupRecovery()).walletRootPriv;
    s.proxy.fault = async (r, forward) => {
      if (isPost(r)) await s.a.loadBackupRecovery({ recovery: { ...otherRecovery, providers: [] }, strategy: "theirs" });
      return forward();
    };
    const r = await s.a.runBackupCycle();
    expect(r.providers[0].outcome).toBe("skipped");
    expect((await s.a.getBackupRecovery()).walletRootPriv).toBe(otherRecovery.walletRootPriv);
    // Whatever the old account holds still decrypts with the old key.
    const d = await syncDownload(fetch, s.server().baseUrl, deriveSyncAccountKey(decodeCrock(oldRoot), s.proxy.baseUrl).seed);
    if (d.kind !== "ok") throw new Error("the old account lost its backup");
    expect(() => decryptBackupFile(d.blob, oldRoot)).not.toThrow();
  });

  it("a 409 storm from a second device: merged and retried until it wins; a storm that never ends is reported, and the next cycle wins", async () => {
    const s = await setup();
    let storm = 3;
    let inB = false;
    s.proxy.fault = async (r, forward) => {
      if (isPost(r) && storm > 0 && !inB) {
        // Before each of a's uploads, b records something and stores its backup first.
        storm--;
        inB = true;
        try {
          await withdraw(s.b);
          const rb = await s.b.runBackupCycle({ force: true });
          expect(rb.providers[0].outcome).toBe("stored");
        } finally {
          inB = false;
        }
      }
      return forward();
    };
    await withdraw(s.a);
    const r = await s.a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "stored", uploads: 4, merged: 3 });
    await convergesCleanly(s);

    storm = Number.POSITIVE_INFINITY;
    s.proxy.fault = async (r, forward) => {
      if (isPost(r) && !inB) {
        inB = true;
        try {
          await withdraw(s.b);
          await s.b.runBackupCycle({ force: true });
        } finally {
          inB = false;
        }
      }
      return forward();
    };
    await withdraw(s.a);
    const lost = await s.a.runBackupCycle();
    expect(lost.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-conflicts-exhausted" }, uploads: 9, merged: 9 });
    await convergesCleanly(s);
  });
});

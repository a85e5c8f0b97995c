// The backup cycle against real sync servers on loopback, branch by branch:
// adding a provider reads its /config; a first upload (204); a quiet cycle
// that uploads nothing; a lost compare-and-swap (409) merged and retried; a
// provider that lost the account; payment required (402) and then paid; a
// failure recorded with a back-off and skipped until then; and the provider
// state device-local, kept across reopening.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decryptBackupFile, deriveSyncAccountKey, readBackupContent, syncDownload, syncUpload } from "../src/index.ts";
import type { WalletNotification } from "../src/engine/notifications.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { decodeCrock } from "../src/codec/crockford.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex0.test/";
let t = Date.UTC(2025, 0, 15, 12, 0, 0);
const now = () => t;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(opts: { annualFee?: string; path?: string; port?: number } = {}): Promise<SyncServer & { path: string }> {
  let path = opts.path;
  if (!path) {
    const d = tempDir();
    cleanups.push(d.cleanup);
    path = d.path;
  }
  const s = await startSyncServer({ port: opts.port ?? 0, host: "127.0.0.1", path, annualFee: opts.annualFee as `${string}:${string}` | undefined });
  let closed = false;
  const close = async () => {
    if (!closed) await s.close();
    closed = true;
  };
  cleanups.push(close);
  return { ...s, close, path };
}

async function wallet(deviceId: string, path?: string): Promise<Wallet & { path: string }> {
  if (!path) {
    const d = tempDir();
    cleanups.push(d.cleanup);
    path = d.path;
  }
  const w = await openWallet({ path, deviceId, now, httpTimeoutMs: 2_000 });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await w.close();
  });
  return Object.assign(Object.create(w) as Wallet, {
    path,
    close: async () => {
      closed = true;
      await w.close();
    },
  });
}

async function withdraw(w: Wallet, coins: string[], value = "KUDOS:1"): Promise<void> {
  await w.recordWithdrawal({ exchangeBaseUrl: EX, coins: coins.map((coinPub) => ({ coinPub, denomPubHash: "denom-1", value })) });
}

/** A second device of the same person: loads the first one's recovery (adopting its key and providers). */
async function joined(first: Wallet, deviceId: string): Promise<Wallet & { path: string }> {
  const w = await wallet(deviceId);
  await w.loadBackupRecovery({ recovery: await first.getBackupRecovery(), strategy: "theirs" });
  return w;
}

/** What the provider stores for `w`'s account, decrypted: the clock of its log. */
async function stored(w: Wallet, url: string) {
  const root = (await w.getBackupRecovery()).walletRootPriv;
  const d = await syncDownload(fetch, url, deriveSyncAccountKey(decodeCrock(root), url).seed);
  if (d.kind !== "ok") return undefined;
  return readBackupContent(decryptBackupFile(d.blob, root));
}

/** Device "a" with one exchange and an active provider on a fresh server, after its first cycle unless `upload` is false. */
async function backedUp({ upload = true } = {}) {
  const s = await server();
  const a = await wallet("a");
  await a.addExchange({ exchangeBaseUrl: EX });
  await a.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
  if (upload) await a.runBackupCycle();
  return { s, a };
}

const sharedState = async (w: Wallet) => ({
  clock: await w.getVectorClock(),
  exchanges: await w.listExchanges(),
  balances: await w.getBalances(),
  conflicts: await w.listConflicts(),
});

describe("adding a provider", () => {
  let exchange: TestExchange;
  beforeAll(async () => {
    exchange = await startTestExchange({ now });
  });
  afterAll(async () => {
    await exchange.close();
  });

  it("reads /config and keeps the provider's terms", async () => {
    const s = await server({ annualFee: "KUDOS:0.5" });
    const w = await wallet("a");
    await w.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
    const info = await w.getBackupInfo();
    expect(info).toMatchObject({ walletRootPub: w.walletRootPub, deviceId: "a", lastLocalClock: {} });
    expect(info.providers).toEqual([
      { active: true, syncProviderBaseUrl: s.baseUrl, terms: { version: "2:0:0", storageLimitInMegabytes: 16, annualFee: "KUDOS:0.5" } },
    ]);
  });

  it("refuses a server that is not a sync provider, and one that cannot be reached; nothing is written", async () => {
    const w = await wallet("a");
    const refused = async (url: string) =>
      w.addBackupProvider({ backupProviderBaseUrl: url, activate: true }).then(
        () => "added",
        (e: { code?: string }) => e.code,
      );
    // An exchange answers HTTP, but its /config is not a sync service's.
    expect(await refused(exchange.baseUrl)).toBe("sync-not-a-provider");
    const gone = await server();
    await gone.close();
    expect(await refused(gone.baseUrl)).toBe("sync-network-error");
    expect((await w.getBackupInfo()).providers).toEqual([]);
    expect(await w.dumpProjections()).toEqual([]);
  });
});

describe("the backup cycle", () => {
  it("stores a first backup (204), then uploads nothing while nothing changed, and again after a change", async () => {
    const { s, a } = await backedUp({ upload: false });
    const seen: WalletNotification[] = [];
    a.addNotificationListener((n) => seen.push(n));

    const first = await a.runBackupCycle();
    expect(first.providers).toEqual([{ syncProviderBaseUrl: s.baseUrl, outcome: "stored", merged: 0, uploads: 1 }]);
    const info = (await a.getBackupInfo()).providers[0];
    expect(info.lastBackupHash).toMatch(/^[0-9A-Z]{103}$/);
    expect(info.lastBackupTimestamp).toBe(t);
    expect((await stored(a, s.baseUrl))?.clocks).toEqual({ a: 1 });

    t += 1000;
    const quiet = await a.runBackupCycle();
    expect(quiet.providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0 });
    // A quiet cycle writes nothing, not even a local event.
    expect((await a.getBackupInfo()).providers[0]).toEqual(info);

    await withdraw(a, ["c1"]);
    const again = await a.runBackupCycle();
    expect(again.providers[0]).toMatchObject({ outcome: "stored", uploads: 1 });
    const after = (await a.getBackupInfo()).providers[0];
    expect(after.lastBackupHash).not.toBe(info.lastBackupHash);
    expect((await stored(a, s.baseUrl))?.clocks).toEqual({ a: 2 });
    expect(seen.map((n) => n.type), JSON.stringify(seen)).toEqual(["backup-stored", "backup-unchanged", "balance-change", "exchange-state-transition", "backup-stored"]);
  });

  it("an inactive provider is skipped", async () => {
    const s = await server();
    const a = await wallet("a");
    await a.addBackupProvider({ backupProviderBaseUrl: s.baseUrl });
    expect((await a.runBackupCycle()).providers).toEqual([{ syncProviderBaseUrl: s.baseUrl, outcome: "skipped", merged: 0, uploads: 0 }]);
    expect(await stored(a, s.baseUrl)).toBeUndefined();
  });

  it("a lost compare-and-swap (409) merges the provider's backup and stores one holding both devices' events", async () => {
    const s = await server();
    const a = await wallet("a");
    await a.addExchange({ exchangeBaseUrl: EX });
    await withdraw(a, ["a1", "a2"]);
    await a.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
    await a.runBackupCycle();

    const b = await joined(a, "b");
    expect((await b.getBackupInfo()).providers.map((p) => [p.syncProviderBaseUrl, p.active])).toEqual([[s.baseUrl, true]]);
    await withdraw(b, ["b1"]);
    await a.recordSpend({ coinPub: "a1", amount: "KUDOS:0.5" });
    await a.runBackupCycle();
    // b has never stored there: its first upload has no If-Match, loses to a's, merges it and wins the retry.
    const rb = await b.runBackupCycle();
    expect(rb.providers[0]).toMatchObject({ outcome: "stored", uploads: 2, merged: 1 });
    expect((await stored(b, s.baseUrl))?.clocks).toEqual({ a: 3, b: 1 });

    // a had nothing new: it downloads b's newer backup, merges it, and has nothing to upload.
    const ra = await a.runBackupCycle();
    expect(ra.providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 1 });
    expect(await sharedState(a)).toEqual(await sharedState(b));
    expect((await a.getBackupInfo()).providers[0].lastBackupHash).toBe((await b.getBackupInfo()).providers[0].lastBackupHash);
    // Both quiet now.
    expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 0 });
    expect((await b.runBackupCycle()).providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0, merged: 0 });
  });

  it("a provider that lost the account (a new server at the same address) gets the backup again as a first upload", async () => {
    const { s, a } = await backedUp();
    const port = Number(new URL(s.baseUrl).port);
    await s.close();
    const fresh = await server({ port });
    expect(fresh.baseUrl).toBe(s.baseUrl);
    // Quiet here, so the cycle asks first, finds nothing, and stores it.
    const r = await a.runBackupCycle();
    expect(r.providers[0], JSON.stringify(r)).toMatchObject({ outcome: "stored", uploads: 1 });
    expect((await stored(a, s.baseUrl))?.clocks).toEqual({ a: 1 });

    // With something new, the upload's If-Match names a backup the provider does not have: stored as a first upload.
    await fresh.close();
    await server({ port });
    await withdraw(a, ["c1"]);
    expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "stored", uploads: 2 });
    expect((await stored(a, s.baseUrl))?.clocks).toEqual({ a: 2 });
  });

  it("402: records the payment request and stops; once paid, the next cycle stores", async () => {
    const s = await server({ annualFee: "KUDOS:1" });
    const a = await wallet("a");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
    const seen: string[] = [];
    a.addNotificationListener((n) => seen.push(n.type));
    expect((await a.runBackupCycle()).providers[0]).toMatchObject({ outcome: "payment-required", uploads: 1 });
    const p = (await a.getBackupInfo()).providers[0];
    expect(p.paymentRequired?.talerUri).toMatch(/^taler:\/\/pay\//);
    expect(p.lastBackupHash).toBeUndefined();
    // Until someone pays, cycles do not upload the whole backup again just to hear 402.
    expect(p.retryAt).toBe(t + 3_600_000);
    expect((await a.runBackupCycle()).providers[0].outcome).toBe("skipped");
    await s.markPaid(deriveSyncAccountKey(decodeCrock((await a.getBackupRecovery()).walletRootPriv), s.baseUrl).pub);
    expect((await a.runBackupCycle({ force: true })).providers[0]).toMatchObject({ outcome: "stored" });
    const paid = (await a.getBackupInfo()).providers[0];
    expect(paid.paymentRequired).toBeUndefined();
    expect(paid.retryAt).toBeUndefined();
    expect(paid.lastBackupHash).toBeDefined();
    expect(seen).toEqual(["backup-payment-required", "backup-stored"]);
  });

  it("a failure is recorded with a back-off, skipped until then (unless forced), and cleared by the next success; no event is lost", async () => {
    const { s, a } = await backedUp({ upload: false });
    const port = Number(new URL(s.baseUrl).port);
    await s.close();
    await withdraw(a, ["c1"]);
    const clock = await a.getVectorClock();

    const r = await a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "sync-network-error" } });
    const p = (await a.getBackupInfo()).providers[0];
    expect(p.lastError?.code).toBe("sync-network-error");
    expect(p.retryAt).toBe(t + 5_000);
    expect((await a.runBackupCycle()).providers[0].outcome).toBe("skipped");
    expect(await a.getVectorClock()).toEqual(clock);

    // The second failure in a row waits twice as long.
    t += 5_000;
    expect((await a.runBackupCycle()).providers[0].outcome).toBe("failed");
    expect((await a.getBackupInfo()).providers[0].retryAt).toBe(t + 10_000);

    await server({ port, path: s.path });
    expect((await a.runBackupCycle({ force: true })).providers[0].outcome).toBe("stored");
    const ok = (await a.getBackupInfo()).providers[0];
    expect(ok.lastError).toBeUndefined();
    expect(ok.retryAt).toBeUndefined();
    expect((await stored(a, s.baseUrl))?.clocks).toEqual(clock);
  });

  it("a quiet cycle that succeeds after a failure clears it, so the next failure backs off from the start", async () => {
    const { s, a } = await backedUp();
    const port = Number(new URL(s.baseUrl).port);
    await s.close();
    expect((await a.runBackupCycle()).providers[0].outcome).toBe("failed");
    await server({ port, path: s.path });
    const r = await a.runBackupCycle({ force: true });
    expect(r.providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0 });
    const p = (await a.getBackupInfo()).providers[0];
    expect(p.lastError).toBeUndefined();
    expect(p.retryAt).toBeUndefined();
    expect(p.lastBackupTimestamp).toBe(t);
    // Quiet and healthy: nothing more is recorded.
    const before = await a.dumpProjections();
    await a.runBackupCycle();
    expect(await a.dumpProjections()).toEqual(before);
  });

  it("a stored backup this device cannot read (another key) is a recorded failure, not a rejected cycle", async () => {
    const { s, a } = await backedUp();
    // Someone holding the account key stores a backup encrypted with another root key.
    const stranger = await wallet("stranger");
    const account = deriveSyncAccountKey(decodeCrock((await a.getBackupRecovery()).walletRootPriv), s.baseUrl);
    const up = await syncUpload(fetch, s.baseUrl, account.seed, await stranger.exportBackupEncrypted(), { ifMatch: (await a.getBackupInfo()).providers[0].lastBackupHash });
    expect(up.kind).toBe("stored");
    const clock = await a.getVectorClock();
    const r = await a.runBackupCycle();
    expect(r.providers[0]).toMatchObject({ outcome: "failed", error: { code: "backup-decrypt-failed" } });
    expect((await a.getBackupInfo()).providers[0].lastError?.code).toBe("backup-decrypt-failed");
    expect(await a.getVectorClock()).toEqual(clock);
  });

  it("provider state is device-local, survives reopening, and never travels with the log", async () => {
    const { s, a } = await backedUp();
    const info = await a.getBackupInfo();
    expect(await a.exportEvents()).toHaveLength(1);
    await a.close();
    const again = await wallet("a", a.path);
    expect(await again.getBackupInfo()).toEqual(info);
    await again.rebuild();
    expect(await again.getBackupInfo()).toEqual(info);
    expect((await again.runBackupCycle()).providers[0]).toMatchObject({ outcome: "unchanged", uploads: 0 });
  });

  it("answers over handleRequest as plain JSON, and refuses a bad request", async () => {
    const s = await server();
    const a = await wallet("a");
    await a.handleRequest("addBackupProvider", "1", { backupProviderBaseUrl: s.baseUrl, activate: true });
    const r = await a.handleRequest("runBackupCycle", "2", {});
    expect(r).toMatchObject({ type: "response", result: { providers: [{ outcome: "stored" }] } });
    expect(await a.handleRequest("runBackupCycle", "3", { force: "yes" })).toMatchObject({ type: "error", error: { code: "request-invalid" } });
    expect(await a.handleRequest("getBackupInfo", "4", undefined)).toMatchObject({ type: "response", result: { deviceId: "a" } });
  });
});

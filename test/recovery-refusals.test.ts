// loadBackupRecovery refusals and provider state (found by review): a recovery that names no sync provider,
// a key no provider knows, a provider list that changed during the downloads, and credentials in an error.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  canonicalJson,
  decodeCrock,
  deriveSyncAccountKey,
  encodeCrock,
  openWallet,
  startSyncServer,
  syncDownload,
  type SyncServer,
  type Wallet,
} from "../src/index.ts";
import { isWalletError } from "../src/errors.ts";
import { tempDir } from "./support/temp-wallet.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const servers: { server: SyncServer; dir: { path: string; cleanup(): void } }[] = [];
/** Base URL of sync server i (two real sync servers on loopback). */
const S = (i: number) => servers[i].server.baseUrl;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const dir = tempDir();
    servers.push({ dir, server: await startSyncServer({ port: 0, host: "127.0.0.1", path: dir.path }) });
  }
});
afterAll(async () => {
  for (const s of servers) {
    await s.server.close();
    s.dir.cleanup();
  }
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function wallet(deviceId: string, http?: (url: string, init?: RequestInit) => Promise<Response>): Promise<Wallet> {
  const dir = tempDir();
  const w = await openWallet({ path: dir.path, deviceId, now: () => NOW, http });
  cleanups.push(async () => {
    await w.close();
    dir.cleanup();
  });
  return w;
}

/** Everything a recovery could change: log, projections (providers included), root key, backup info. */
async function state(w: Wallet) {
  return { clock: await w.getVectorClock(), events: canonicalJson(await w.exportEvents()), records: await w.dumpProjections(), root: w.walletRootPub, info: await w.getBackupInfo() };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isWalletError(e) ? e.code : `non-wallet-error:${String(e)}`;
  }
  return undefined;
}

async function withHistory(w: Wallet, tag: string): Promise<void> {
  await w.addExchange({ exchangeBaseUrl: `https://${tag}.example/` });
  await w.recordWithdrawal({ exchangeBaseUrl: `https://${tag}.example/`, coins: [{ coinPub: `coin-${tag}`, denomPubHash: "d", value: "KUDOS:3" }] });
  await w.recordSpend({ coinPub: `coin-${tag}`, amount: "KUDOS:1", spendId: `spend-${tag}` });
}

describe("loadBackupRecovery (review findings)", () => {
  it("a recovery naming a URL that is not a sync provider is refused and changes nothing", async () => {
    // Any web server that answers 404 to everything (a typo'd host, a web page, an exchange).
    const web = createServer((_req, res) => {
      res.statusCode = 404;
      res.end("not found");
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => web.close(() => r())));
    const notSync = `http://127.0.0.1:${(web.address() as { port: number }).port}/`;

    const laptop = await wallet("laptop");
    await withHistory(laptop, "laptop");
    const phone = await wallet("phone");
    await withHistory(phone, "phone");
    // addBackupProvider refuses this URL ...
    expect(await codeOf(phone.addBackupProvider({ backupProviderBaseUrl: notSync, activate: true }))).toBe("sync-not-a-provider");
    const before = await state(phone);
    // ... but today a recovery naming it succeeds: the key is switched and the URL becomes an active provider.
    const code = await codeOf(phone.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [{ url: notSync }] }, strategy: "theirs" }));
    expect(code).toBe("sync-not-a-provider");
    expect(await state(phone)).toEqual(before);
  });

  it("a recovery with a wrong key (no named provider knows its account) is refused and changes nothing", async () => {
    const laptop = await wallet("laptop");
    await withHistory(laptop, "laptop");
    await laptop.addBackupProvider({ backupProviderBaseUrl: S(0), activate: true });
    expect((await laptop.runBackupCycle()).providers[0].outcome).toBe("stored");
    const phone = await wallet("phone");
    await withHistory(phone, "phone");
    const before = await state(phone);
    // A mistyped / wrong root key: valid Crockford, 32 bytes, but no backups anywhere.
    const wrongKey = encodeCrock(new Uint8Array(randomBytes(32)));
    const code = await codeOf(phone.loadBackupRecovery({ recovery: { walletRootPriv: wrongKey, providers: [{ url: S(0) }] }, strategy: "theirs" }));
    expect(code).toBe("backup-recovery-not-found");
    expect(await state(phone)).toEqual(before);
  });

  it("theirs: the providers' sync state of the old key's accounts is reset (as wallet-core's backupRecoveryTheirs does)", async () => {
    const laptop = await wallet("laptop");
    await withHistory(laptop, "laptop");
    await laptop.addBackupProvider({ backupProviderBaseUrl: S(0), activate: true });
    await laptop.runBackupCycle();
    const phone = await wallet("phone");
    await withHistory(phone, "phone");
    await phone.addBackupProvider({ backupProviderBaseUrl: S(1), activate: true });
    expect((await phone.runBackupCycle()).providers[0].outcome).toBe("stored");
    await phone.loadBackupRecovery({ recovery: await laptop.getBackupRecovery(), strategy: "theirs" });
    // Under the adopted key, S(1) holds no backup of this wallet ...
    const acct = deriveSyncAccountKey(decodeCrock((await phone.getBackupRecovery()).walletRootPriv), S(1));
    expect((await syncDownload(fetch, S(1), acct.seed)).kind).toBe("none");
    // ... yet getBackupInfo still reports the old account's backup there.
    const s1 = (await phone.getBackupInfo()).providers.find((p) => p.syncProviderBaseUrl === S(1))!;
    expect(s1.lastBackupHash).toBeUndefined();
    expect(s1.lastBackupTimestamp).toBeUndefined();
  });

  it("a recovery without a strategy does not switch the key of a wallet that gained a provider (and a backup) while it downloaded", async () => {
    const laptop = await wallet("laptop");
    await withHistory(laptop, "laptop");
    await laptop.addBackupProvider({ backupProviderBaseUrl: S(0), activate: true });
    await laptop.runBackupCycle();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const downloading = new Promise<void>((r) => (entered = r));
    // Holds the recovery's download (a GET of /backups/…) until the test lets it go.
    const slow = async (url: string, init?: RequestInit) => {
      if (url.includes("/backups/") && (init?.method ?? "GET") === "GET") {
        entered();
        await gate;
      }
      return fetch(url, init);
    };
    const phone = await wallet("phone", slow);
    await withHistory(phone, "phone");
    const ownRoot = phone.walletRootPub;
    const loading = phone.loadBackupRecovery({ recovery: await laptop.getBackupRecovery() });
    await downloading;
    // Meanwhile the wallet gains a provider and stores a backup there under its own key.
    await phone.addBackupProvider({ backupProviderBaseUrl: S(1), activate: true });
    expect((await phone.runBackupCycle()).providers.map((p) => p.outcome)).toEqual(["stored"]);
    release();
    // Now it backs up under its own key: without a strategy the switch must be refused, as it would be if asked now.
    expect(await codeOf(loading)).toBe("backup-recovery-strategy-required");
    expect(phone.walletRootPub).toBe(ownRoot);
  });

  it("a refused recovery does not echo a provider URL's password in its error", async () => {
    const w = await wallet("w");
    const laptop = await wallet("laptop");
    const r = await w.handleRequest("loadBackupRecovery", "1", {
      recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [{ url: "https://alice:hunter2-secret@sync.example/" }] },
      strategy: "theirs",
    });
    expect(r.type).toBe("error");
    expect(JSON.stringify(r)).not.toContain("hunter2-secret");
  });
});

// close(): requests in flight finish (network waits are cut short and end in
// wallet-closed), nothing half-written is left, and later requests fail with
// wallet-closed. No raw lmdb error reaches a caller.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { startTestExchange } from "../src/testing/index.ts";
import { tempDir } from "./support/temp-wallet.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe("closing a wallet with an update awaiting the network", () => {
  it("ends the update with wallet-closed (not an lmdb error), records no failure, and leaves nothing in flight", async () => {
    const ex = await startTestExchange({ now: () => NOW });
    cleanups.push(() => ex.close());
    ex.setFault({ kind: "hang" });
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const w = await openWallet({ path: dir.path, now: () => NOW, httpTimeoutMs: 30_000 });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const updating = w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const outcome = updating.then(
      () => "resolved",
      (e: { code?: string; message?: string }) => e.code ?? `raw: ${e.message}`,
    );
    while (ex.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await w.close();
    // The update was cut short by close, long before its 30 s deadline.
    expect(await outcome).toBe("wallet-closed");
    await expect(w.getBalances()).rejects.toMatchObject({ code: "wallet-closed" });

    const again = await openWallet({ path: dir.path, now: () => NOW });
    cleanups.push(() => again.close());
    // Only the added event: the interruption is not an exchange failure, so nothing shared was recorded.
    expect((await again.exportEvents()).map((e) => e.type)).toEqual(["exchange-added"]);
    const entry = await again.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl });
    expect(entry.exchangeUpdateStatus).toBe("initial-update");
    expect(entry.lastUpdateErrorInfo).toBeUndefined();
    const upd = (await again.dumpProjections()).find((r) => r.key[0] === "upd");
    expect(upd?.value).toMatchObject({ inFlight: 0, failures: 0 });
  });

  it("waits for a request in flight that needs no network, which then completes", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const w = await openWallet({ path: dir.path, now: () => NOW });
    const adding = w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
    const closing = w.close();
    await expect(adding).resolves.toBeUndefined();
    await closing;
    const again = await openWallet({ path: dir.path });
    cleanups.push(() => again.close());
    expect((await again.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toEqual(["https://ex.example/"]);
  });

  it("close is idempotent and concurrent closes share one", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const w = await openWallet({ path: dir.path });
    await Promise.all([w.close(), w.close()]);
    await w.close();
    await expect(w.listExchanges()).rejects.toMatchObject({ code: "wallet-closed" });
  });
});

describe("the host clock", () => {
  it.each([
    ["negative", -1000],
    ["past year 9999", 2 ** 60],
    ["not a number", Number.NaN],
    ["not even printable (no toString)", Object.create(null) as number],
  ])("a %s clock refuses every write with clock-invalid and writes nothing", async (_, t) => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const w = await openWallet({ path: dir.path, now: () => t });
    cleanups.push(() => w.close());
    await expect(w.addExchange({ exchangeBaseUrl: "https://ex.example/" })).rejects.toMatchObject({ code: "clock-invalid" });
    expect(await w.exportEvents()).toEqual([]);
  });

  it("a clock that throws something without a string form is clock-invalid too", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const w = await openWallet({
      path: dir.path,
      now: () => {
        throw Object.create(null);
      },
    });
    cleanups.push(() => w.close());
    await expect(w.addExchange({ exchangeBaseUrl: "https://ex.example/" })).rejects.toMatchObject({ code: "clock-invalid" });
  });
});

describe("closing a wallet with a sync request awaiting the provider", () => {
  /** A real provider that answers /config and leaves every other request hanging. */
  async function hangingProvider(): Promise<{ baseUrl: string; hits: string[] }> {
    const hits: string[] = [];
    const server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url === "/config") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ name: "sync", version: "2:0:0", storage_limit_in_megabytes: 16, annual_fee: "KUDOS:0", liability_limit: "KUDOS:0" }));
      }
      // Anything else: never answered.
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    return { baseUrl: `http://127.0.0.1:${port}/`, hits };
  }

  it.each<[string, (w: Wallet, url: string) => Promise<unknown>]>([
    ["runBackupCycle (upload)", (w) => w.runBackupCycle()],
    ["loadBackupRecovery (download)", async (w, url) => w.loadBackupRecovery({ recovery: { walletRootPriv: (await w.getBackupRecovery()).walletRootPriv, providers: [{ url }] } })],
  ])("%s ends with wallet-closed, cut short long before its deadline, recording no failure", async (_, call) => {
    const provider = await hangingProvider();
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    // A deadline far beyond the test's own timeout: only close can end the wait.
    const w = await openWallet({ path: dir.path, now: () => NOW, httpTimeoutMs: 600_000 });
    await w.addBackupProvider({ backupProviderBaseUrl: provider.baseUrl, activate: true });
    const outcome = call(w, provider.baseUrl).then(
      () => "resolved",
      (e: { code?: string; message?: string }) => e.code ?? `raw: ${e.message}`,
    );
    // Wait for the backup request itself (after the add's /config, and a recovery's own /config read).
    while (!provider.hits.some((h) => h.includes("/backups/"))) await new Promise((r) => setTimeout(r, 5));
    await w.close();
    expect(await outcome).toBe("wallet-closed");

    const again = await openWallet({ path: dir.path, now: () => NOW });
    cleanups.push(() => again.close());
    const info = await again.getBackupInfo();
    expect(info.providers[0]).not.toHaveProperty("lastError");
  });
});

// The backup and sync commands end to end (issue 12), as child processes
// against temp wallets and a sync server on loopback.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { liveCli, runCli, transpiledCli, type CliResult } from "./support/cli.ts";
import { tempDir } from "./support/temp-wallet.ts";

describe("wallet-engine backup and sync commands", () => {
  let exchange: TestExchange;
  let url: string;
  let tool: string[];
  const cleanups: (() => void | Promise<void>)[] = [];

  beforeAll(async () => {
    exchange = await startTestExchange({ currency: "KUDOS" });
    url = exchange.baseUrl;
    const compiled = transpiledCli();
    cleanups.push(compiled.cleanup);
    tool = compiled.command;
  });

  afterAll(async () => {
    await exchange.close();
    for (const c of cleanups.reverse()) await c();
  });

  const dir = () => {
    const d = tempDir();
    cleanups.push(d.cleanup);
    return d.path;
  };
  const walletPath = () => join(dir(), "wallet");
  const cli = (wallet: string, ...args: string[]) => runCli(["--wallet", wallet, ...args], { command: tool });

  async function preparedWallet(setup: (w: Wallet) => Promise<void>, deviceId: string): Promise<string> {
    const path = walletPath();
    const w = await openWallet({ path, deviceId });
    try {
      await setup(w);
    } finally {
      await w.close();
    }
    return path;
  }

  const withCoins = (w: Wallet) =>
    (async () => {
      await w.addExchange({ exchangeBaseUrl: url });
      await w.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: "COIN-B", denomPubHash: "D", value: "KUDOS:5" }] });
      await w.recordSpend({ coinPub: "COIN-B", amount: "KUDOS:1", spendId: "first" });
    })();

  function ok(r: CliResult): string {
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    return r.stdout;
  }

  function refused(r: CliResult, code: string): void {
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${code}: [^\\n]+\\n$`));
  }

  async function startServer(): Promise<SyncServer> {
    const server = await startSyncServer({ port: 0, host: "127.0.0.1", path: dir() });
    cleanups.push(() => server.close());
    return server;
  }

  it("backup export (encrypted and --plain), recovery with and without --show-secret, import into a fresh wallet", async () => {
    const a = await preparedWallet(withCoins, "laptop");
    const file = join(dir(), "backup.bin");
    const exported = JSON.parse(ok(await cli(a, "backup", "export", file, "--json")));
    expect(exported).toMatchObject({ file, format: "TLRWBK01" });
    const bytes = readFileSync(file);
    expect(exported.bytes).toBe(bytes.length);
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("TLRWBK01");

    const hidden = ok(await cli(a, "backup", "recovery"));
    expect(hidden).toContain("--show-secret");
    const recovery = JSON.parse(ok(await cli(a, "backup", "recovery", "--show-secret", "--json")));
    expect(recovery.walletRootPriv).toMatch(/^[0-9A-Z]{52}$/);
    expect(hidden).not.toContain(recovery.walletRootPriv);
    expect(JSON.parse(ok(await cli(a, "backup", "recovery", "--json")))).toEqual({ providers: [] });

    // Another wallet cannot open it: wrong key, nothing changes.
    const stranger = walletPath();
    refused(await cli(stranger, "backup", "import", file), "backup-decrypt-failed");
    // The same person's new device: load the recovery, then the file merges.
    const b = walletPath();
    ok(await cli(b, "api", "loadBackupRecovery", JSON.stringify({ recovery, strategy: "theirs" })));
    expect(ok(await cli(b, "backup", "import", file))).toMatch(/^merged .* \(TLRWBK01\): 3 new events\n$/);
    expect(JSON.parse(ok(await cli(b, "balances", "--json"))).balances).toEqual([{ currency: "KUDOS", available: "KUDOS:4", pendingIncoming: "KUDOS:0" }]);
    // Importing again adds nothing.
    expect(JSON.parse(ok(await cli(b, "backup", "import", file, "--json")))).toMatchObject({ format: "TLRWBK01", added: 0 });

    const plain = join(dir(), "backup.json");
    ok(await cli(a, "backup", "export", plain, "--plain"));
    expect(JSON.parse(readFileSync(plain, "utf8")).schema_id).toBe("gnu-taler-wallet-backup-content");
    const c = walletPath();
    expect(JSON.parse(ok(await cli(c, "backup", "import", plain, "--json")))).toMatchObject({ format: "plain JSON", added: 3 });

    // Damaged files are refused with the backup codes, one line each.
    const truncated = join(dir(), "truncated.bin");
    writeFileSync(truncated, bytes.subarray(0, 20));
    refused(await cli(b, "backup", "import", truncated), "backup-truncated");
    refused(await cli(b, "backup", "import", join(dir(), "nothing-here.bin")), "file-unreadable");
  });

  it("sync add-provider, run and info against a sync server; a second device restores from the recovery and a sync run", async () => {
    const server = await startServer();
    const a = await preparedWallet(withCoins, "laptop");
    const added = ok(await cli(a, "sync", "add-provider", server.baseUrl));
    expect(added).toContain(server.baseUrl);
    const run = ok(await cli(a, "sync", "run"));
    expect(run).toMatch(/active/);
    const info = JSON.parse(ok(await cli(a, "sync", "info", "--json")));
    expect(info.deviceId).toBe("laptop");
    expect(info.providers).toHaveLength(1);
    expect(info.providers[0]).toMatchObject({ active: true, syncProviderBaseUrl: server.baseUrl });
    expect(info.providers[0].lastBackupHash).toMatch(/^[0-9A-Z]{103}$/);

    const recovery = JSON.parse(ok(await cli(a, "backup", "recovery", "--show-secret", "--json")));
    expect(recovery.providers).toEqual([{ url: server.baseUrl }]);
    const b = walletPath();
    ok(await cli(b, "api", "loadBackupRecovery", JSON.stringify({ recovery, strategy: "theirs" })));
    ok(await cli(b, "sync", "run"));
    expect(JSON.parse(ok(await cli(b, "balances", "--json"))).balances[0].available).toBe("KUDOS:4");

    const unreachable = walletPath();
    refused(await cli(unreachable, "sync", "add-provider", "http://127.0.0.1:1/"), "sync-network-error");

    // A provider that fails during the run: the report still prints, and the exit status and stderr say so.
    await server.close();
    const failed = await cli(a, "sync", "run");
    expect(failed.stdout).toMatch(/failed.*sync-network-error/);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(new RegExp(`^error: sync-network-error: ${server.baseUrl.replace(/[.]/g, "\\.")}: [^\n]+\n$`));
  });

  it("log --follow --sync-every prints the events another device uploaded as the cycles import them", async () => {
    const server = await startServer();
    const a = await preparedWallet(withCoins, "laptop");
    ok(await cli(a, "sync", "add-provider", server.baseUrl));
    ok(await cli(a, "sync", "run"));
    const recovery = JSON.parse(ok(await cli(a, "backup", "recovery", "--show-secret", "--json")));
    const b = walletPath();
    ok(await cli(b, "api", "loadBackupRecovery", JSON.stringify({ recovery, strategy: "theirs" })));
    ok(await cli(b, "sync", "run"));

    const follow = liveCli(["--wallet", a, "log", "--follow", "--sync-every", "0.5"], { command: tool });
    try {
      await follow.waitFor(/laptop:3\s+3\s+coin-spent/);
      ok(await cli(b, "spend", "COIN-B", "KUDOS:2", "--id", "second"));
      ok(await cli(b, "sync", "run"));
      await follow.waitFor(/:\d+\s+\d+\s+coin-spent\s+coin COIN-B KUDOS 2 \(spend second\)\n/, "stdout", 30_000);
    } finally {
      const r = await follow.stop("SIGINT");
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
    }
  });
});

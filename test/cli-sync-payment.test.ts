// `sync run` and `sync info` show the taler://pay URI of a provider asking
// for its annual fee (text and JSON), and `sync run --json` prints the cycle's
// outcome next to the providers' state: { cycle, info }.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { openWallet } from "../src/wallet.ts";
import { runCli, transpiledCli, type CliResult } from "./support/cli.ts";
import { tempDir } from "./support/temp-wallet.ts";

describe("wallet-engine sync run / info with a provider asking for payment", () => {
  let tool: string[];
  const cleanups: (() => void | Promise<void>)[] = [];

  beforeAll(() => {
    const compiled = transpiledCli();
    cleanups.push(compiled.cleanup);
    tool = compiled.command;
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const dir = () => {
    const d = tempDir();
    cleanups.push(d.cleanup);
    return d.path;
  };
  const cli = (wallet: string, ...args: string[]) => runCli(["--wallet", wallet, ...args], { command: tool });

  async function startServer(annualFee?: `${string}:${string}`): Promise<SyncServer> {
    const server = await startSyncServer({ port: 0, host: "127.0.0.1", path: dir(), annualFee });
    cleanups.push(() => server.close());
    return server;
  }

  async function preparedWallet(): Promise<string> {
    const path = join(dir(), "wallet");
    const w = await openWallet({ path, deviceId: "laptop" });
    try {
      await w.addExchange({ exchangeBaseUrl: "https://exchange.example/" });
    } finally {
      await w.close();
    }
    return path;
  }

  function ok(r: CliResult): string {
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    return r.stdout;
  }

  const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

  it("prints the pay URI in sync run (stdout and stderr) and sync info; --json has { cycle, info } with it", async () => {
    const server = await startServer("KUDOS:1");
    const a = await preparedWallet();
    ok(await cli(a, "sync", "add-provider", server.baseUrl));

    const run = await cli(a, "sync", "run");
    expect(run.status).toBe(1);
    const uri = /taler:\/\/pay\/\S+/.exec(run.stdout)?.[0];
    expect(uri, run.stdout).toBeDefined();
    expect(run.stdout).toContain(`${server.baseUrl}: payment-required (1 upload(s), 0 event(s) merged): pay with ${uri}`);
    expect(run.stdout).toContain(`${server.baseUrl}: payment required, pay with ${uri}`);
    expect(run.stderr).toMatch(new RegExp(`^error: payment-required: ${escaped(server.baseUrl)}: payment required, pay with ${escaped(uri!)}\n$`));

    const info = ok(await cli(a, "sync", "info"));
    expect(info).toContain(`${server.baseUrl}: payment required, pay with ${uri}`);
    expect(JSON.parse(ok(await cli(a, "sync", "info", "--json"))).providers[0].paymentRequired).toEqual({ talerUri: uri });

    const json = await cli(a, "sync", "run", "--json");
    expect(json.status).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(Object.keys(out).sort()).toEqual(["cycle", "info"]);
    expect(out.cycle.providers).toEqual([
      { syncProviderBaseUrl: server.baseUrl, outcome: "payment-required", merged: 0, uploads: 1, talerUri: uri },
    ]);
    expect(out.info.providers[0]).toMatchObject({ syncProviderBaseUrl: server.baseUrl, paymentRequired: { talerUri: uri } });
    expect(json.stderr).toContain(uri);
  });

  it("sync run --json after a stored backup: the outcome and the provider's state; no pay line in text", async () => {
    const server = await startServer();
    const a = await preparedWallet();
    ok(await cli(a, "sync", "add-provider", server.baseUrl));
    const text = ok(await cli(a, "sync", "run"));
    expect(text).toContain(`${server.baseUrl}: stored (1 upload(s), 0 event(s) merged)\n`);
    expect(text).not.toMatch(/taler:\/\/|payment/);
    const out = JSON.parse(ok(await cli(a, "sync", "run", "--json")));
    expect(out.cycle).toEqual({ providers: [{ syncProviderBaseUrl: server.baseUrl, outcome: "unchanged", merged: 0, uploads: 0 }] });
    expect(out.info.deviceId).toBe("laptop");
    expect(out.info.providers[0]).toMatchObject({ active: true, syncProviderBaseUrl: server.baseUrl });
    expect(out.info.providers[0].lastBackupHash).toMatch(/^[0-9A-Z]{103}$/);
  });
});

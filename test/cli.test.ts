// The command-line tool (issue 12), run as a person or a script runs it: each
// command a child process against a temp wallet, its output and exit status
// asserted. Independent chains run concurrently; each chain is sequential
// because a wallet directory has one writer at a time.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as runCliInProcess, commands } from "../src/cli/main.ts";
import { commandHelp, usageLine, type CliIo } from "../src/cli/command.ts";
import { alignAmounts, styleFor, table } from "../src/cli/format.ts";
import { compareDumps } from "../src/cli/maintenance.ts";
import { progressBar } from "../src/cli/progress.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { openWallet } from "../src/wallet.ts";
import { liveCli as liveCliOf, ROOT, runCli as runCliOf, transpiledCli, type CliResult } from "./support/cli.ts";
import { tempDir } from "./support/temp-wallet.ts";

let exchange: TestExchange;
let url: string;
let tool: string[];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  exchange = await startTestExchange({ currency: "KUDOS" });
  url = exchange.baseUrl;
  const compiled = transpiledCli();
  cleanups.push(compiled.cleanup);
  tool = compiled.command;
});

afterAll(async () => {
  await exchange.close();
  for (const c of cleanups) c();
});

/** A path for a wallet that does not exist yet, in a temp dir removed afterwards. */
function walletPath(): string {
  const d = tempDir();
  cleanups.push(d.cleanup);
  return join(d.path, "wallet");
}

/** A wallet made in this process (fast), closed before the tool opens it. */
async function preparedWallet(setup: (w: Awaited<ReturnType<typeof openWallet>>) => Promise<void>, deviceId?: string): Promise<string> {
  const path = walletPath();
  const w = await openWallet(deviceId ? { path, deviceId } : { path });
  try {
    await setup(w);
  } finally {
    await w.close();
  }
  return path;
}

const runCli = (args: string[], opts: { input?: string; command?: string[] } = {}) => runCliOf(args, { command: tool, ...opts });
const liveCli = (args: string[]) => liveCliOf(args, { command: tool });
const cli = (wallet: string, ...args: string[]) => runCli(["--wallet", wallet, ...args]);

/** Exit status 0, nothing on stderr; the stdout. */
function ok(r: CliResult): string {
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
  return r.stdout;
}

/** A refusal: status 1, one `error: CODE: …` line, no stack. */
function refused(r: CliResult, code: string): string {
  expect(r.status).toBe(1);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^error: ${code}: \\S`));
  return lines[0];
}

/** A usage error: status 2, the message, then the command's usage line. */
function usage(r: CliResult, usageText: RegExp | string): void {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^wallet-engine: /);
  expect(lines[1]).toMatch(usageText);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

// Each test is a chain of processes; on a loaded machine a chain may take longer than the default minute.
describe.concurrent("wallet-engine as a child process", { timeout: 120_000 }, () => {
  it("npx wallet-engine --help works from the repository root and lists every command", async () => {
    // --no: never ask the registry; the bin must be this package's own.
    const r = await runCli(["--help"], { command: ["npx", "--no", "--", "wallet-engine"] });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: wallet-engine /);
    for (const c of commands) expect(r.stdout).toContain(`  ${c.words.join(" ")}`);
    expect(r.stdout).toContain("sync-server");
  });

  it("exchanges: add, update, tos, accept-tos, list, show, suspend, unsuspend, delete [--purge] against the test exchange", async () => {
    const w = walletPath();
    let out = ok(await cli(w, "exchanges", "add", url));
    expect(out).toMatch(/entry:\s+ephemeral/);
    expect(out).toMatch(/update:\s+initial-update/);

    out = ok(await cli(w, "exchanges", "update", url));
    expect(out).toMatch(/currency:\s+KUDOS/);
    expect(out).toMatch(/update:\s+ready/);
    expect(out).toMatch(/terms:\s+proposed/);

    out = ok(await cli(w, "exchanges", "tos", url, "--language", "de"));
    expect(out).toMatch(/version:\s+v1/);
    expect(out).toMatch(/languages:\s+de, en/);
    expect(out).toContain("Allgemeine Geschäftsbedingungen");

    out = ok(await cli(w, "exchanges", "accept-tos", url));
    expect(out).toMatch(/terms:\s+accepted/);

    const listed = JSON.parse(ok(await cli(w, "exchanges", "list", "--json")));
    expect(listed.exchanges).toHaveLength(1);
    expect(listed.exchanges[0]).toMatchObject({ exchangeBaseUrl: url, currency: "KUDOS", exchangeEntryStatus: "ephemeral", tosStatus: "accepted" });

    out = ok(await cli(w, "exchanges", "suspend", url));
    expect(out).toMatch(/update:\s+suspended/);
    refused(await cli(w, "exchanges", "update", url), "exchange-suspended");
    out = ok(await cli(w, "exchanges", "unsuspend", url));
    expect(out).toMatch(/update:\s+ready/);

    ok(await cli(w, "withdraw", url, "COIN-1=KUDOS:2"));
    const shown = JSON.parse(ok(await cli(w, "exchanges", "show", url, "--json")));
    expect(shown.exchange.exchangeEntryStatus).toBe("used");
    expect(shown.resources).toMatchObject({ hasResources: true, coins: 1 });

    refused(await cli(w, "exchanges", "delete", url), "exchange-has-resources");
    out = ok(await cli(w, "exchanges", "delete", url, "--purge"));
    expect(out).toBe(`deleted ${url} with its coins (purge)\n`);
    expect(ok(await cli(w, "exchanges", "list"))).toBe("no exchanges\n");
  });

  it("withdraw, spend, balances, transactions, conflicts: amounts with their currency, aligned, and --json", async () => {
    const w = await preparedWallet((wallet) => wallet.addExchange({ exchangeBaseUrl: url }));
    const withdrawn = JSON.parse(ok(await cli(w, "withdraw", url, "KUDOS:5", "COIN-A=KUDOS:2.50", "--json", "--amount", "KUDOS:10")));
    expect(withdrawn.coins).toHaveLength(2);
    expect(withdrawn.coins[0].coinPub).toMatch(/^[0-9A-Z]{52}$/);
    expect(withdrawn.coins[1]).toMatchObject({ coinPub: "COIN-A", value: "KUDOS:2.5" });

    expect(ok(await cli(w, "spend", "COIN-A", "KUDOS:1.50", "--id", "coffee"))).toBe("spent KUDOS 1.5 of coin COIN-A (spend coffee)\n");
    expect(refused(await cli(w, "spend", "COIN-A", "KUDOS:5"), "coin-overspent")).toContain("COIN-A");

    expect(ok(await cli(w, "balances"))).toBe(["AVAILABLE  PENDING INCOMING", "KUDOS 6    KUDOS 2.5", ""].join("\n"));
    expect(JSON.parse(ok(await cli(w, "balances", "--json")))).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:6", pendingIncoming: "KUDOS:2.5" }] });

    const lines = ok(await cli(w, "transactions")).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+TYPE\s+AMOUNT\s+EXCHANGE\s+EVENT$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}spend\s+- KUDOS 1\.5 {2}/);
    expect(lines[2]).toMatch(/ withdrawal {2}\+ KUDOS 7.5 {2}/);
    expect(lines).toHaveLength(3);
    // Columns line up: every row has the exchange where the header has EXCHANGE.
    const at = lines[0].indexOf("EXCHANGE");
    for (const l of lines.slice(1)) expect(l.slice(at)).toMatch(new RegExp(`^${url.replace(/[.]/g, "\\.")}`));

    expect(ok(await cli(w, "conflicts"))).toBe("no conflicts\n");
    usage(await cli(w, "withdraw", url, "five-kudos"), /^usage: wallet-engine withdraw \[options\] URL \[COIN\.\.\.\]$/);
  });

  it("log and clock: dot, lamport, type and summary; --since in both forms; --json merges into another wallet through api; conflicts", async () => {
    const a = await preparedWallet(async (wallet) => {
      await wallet.addExchange({ exchangeBaseUrl: url });
      await wallet.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: "COIN-C", denomPubHash: "D5", value: "KUDOS:5" }] });
    }, "laptop");
    const rows = ok(await cli(a, "log")).trimEnd().split("\n");
    expect(rows[0]).toMatch(/^EVENT\s+LAMPORT\s+TYPE\s+SUMMARY$/);
    expect(rows[1]).toMatch(new RegExp(`^laptop:1\\s+1  exchange-added\\s+${url}$`));
    expect(rows[2]).toMatch(/^laptop:2\s+2  coins-withdrawn\s+http\S+ group \S+: 1 coin KUDOS 5$/);

    expect(ok(await cli(a, "clock"))).toMatch(/DEVICE\s+SEQ\nlaptop\s+2\nsince form: laptop:2\n$/);
    const clockA = ok(await cli(a, "clock", "--json"));
    expect(JSON.parse(clockA)).toEqual({ laptop: 2 });
    expect(ok(await cli(a, "log", "--since", "laptop:1"))).toMatch(/^EVENT.*\nlaptop:2 .*coins-withdrawn.*\n$/);
    expect(ok(await cli(a, "log", "--since", clockA))).toBe("no events\n");
    usage(await cli(a, "log", "--since", "yesterday"), /^usage: wallet-engine log \[options\]$/);

    const exported = ok(await cli(a, "log", "--json"));
    expect(JSON.parse(exported).map((e: { type: string }) => e.type)).toEqual(["exchange-added", "coins-withdrawn"]);
    const file = join(a, "..", "events.json");
    writeFileSync(file, exported);

    const b = walletPath();
    expect(JSON.parse(ok(await cli(b, "api", "importEvents", `@${file}`)))).toEqual({ added: 2, known: 0 });
    ok(await cli(b, "spend", "COIN-C", "KUDOS:3", "--id", "on-phone"));
    ok(await cli(a, "spend", "COIN-C", "KUDOS:4", "--id", "on-laptop"));
    writeFileSync(file, ok(await cli(b, "log", "--json", "--since", clockA)));
    expect(JSON.parse(ok(await cli(a, "api", "importEvents", `@${file}`)))).toEqual({ added: 1, known: 0 });
    expect(ok(await cli(a, "conflicts"))).toBe(["KIND          COIN    SPENDS", "double-spend  COIN-C  on-laptop, on-phone", ""].join("\n"));
  });

  it("log --follow prints events appended by requests on stdin and imported ones, until SIGTERM", async () => {
    const other = await preparedWallet(async (wallet) => {
      await wallet.addExchange({ exchangeBaseUrl: "https://other.example/" });
    }, "phone");
    const otherEvents = await (async () => {
      const w = await openWallet({ path: other });
      try {
        return await w.exportEvents();
      } finally {
        await w.close();
      }
    })();
    const w = await preparedWallet((wallet) => wallet.addExchange({ exchangeBaseUrl: url }), "laptop");
    const live = liveCli(["--wallet", w, "log", "--follow"]);
    try {
      await live.waitFor(/laptop:1\s+1\s+exchange-added/);
      live.send(JSON.stringify({ operation: "addExchange", id: "1", args: { exchangeBaseUrl: "https://second.example/" } }));
      await live.waitFor(/laptop:2\s+2\s+exchange-added\s+https:\/\/second\.example\/\n/);
      live.send(JSON.stringify({ operation: "importEvents", id: "2", args: otherEvents }));
      await live.waitFor(/phone:1\s+1\s+exchange-added\s+https:\/\/other\.example\/\n/);
      live.send(JSON.stringify({ operation: "recordSpend", id: "3", args: { coinPub: "NOPE", amount: "KUDOS:1" } }));
      await live.waitFor(/^error: coin-unknown: .*\(recordSpend 3\)\n$/, "stderr");
      live.send("not json");
      await live.waitFor(/error: request-invalid: line 4: not JSON/, "stderr");
    } finally {
      const r = await live.stop("SIGTERM");
      expect(r.status).toBe(0);
      // Each event exactly once, in the order committed.
      expect(r.stdout.match(/^\S+:\d+/gm)).toEqual(["laptop:1", "laptop:2", "phone:1"]);
    }
    // --json: one event per line; --sync-every without --follow is a usage error.
    const lines = ok(await cli(w, "log", "--json")).trim();
    expect(JSON.parse(lines)).toHaveLength(3);
    usage(await cli(w, "log", "--sync-every", "5"), /^usage: wallet-engine log/);
    // Node would run a timer longer than 2^31 - 1 ms every millisecond; a tiny one would hammer the provider.
    for (const every of ["2147484", "0.0001"]) {
      const r = await cli(w, "log", "--follow", "--sync-every", every);
      usage(r, /^usage: wallet-engine log/);
      expect(r.stderr).toMatch(/--sync-every takes a number of seconds from 0.1/);
    }
  });

  it("serve answers JSON lines with envelopes and notifications, and ends with its input", async () => {
    const w = walletPath();
    const input = [
      JSON.stringify({ operation: "addExchange", id: "a", args: { exchangeBaseUrl: url } }),
      "{broken",
      JSON.stringify({ operation: "frob", id: "b" }),
    ].join("\n");
    const r = await runCli(["--wallet", w, "serve"], { input });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    const msgs = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(msgs).toHaveLength(4);
    expect(msgs).toContainEqual({ type: "response", operation: "addExchange", id: "a", result: {} });
    expect(msgs).toContainEqual(expect.objectContaining({ type: "error", id: "b", error: expect.objectContaining({ code: "operation-unknown" }) }));
    expect(msgs).toContainEqual(expect.objectContaining({ type: "error", id: "line-2", error: expect.objectContaining({ code: "request-invalid" }) }));
    expect(msgs).toContainEqual({
      type: "notification",
      payload: expect.objectContaining({ type: "exchange-state-transition", exchangeBaseUrl: url }),
    });
  });

  it("api runs any operation of the table: JSON, @FILE and stdin payloads; refusals, unknown operations and bad JSON", async () => {
    const w = walletPath();
    expect(JSON.parse(ok(await cli(w, "api", "getBalances")))).toEqual({ balances: [] });
    expect(JSON.parse(ok(await cli(w, "api", "addExchange", JSON.stringify({ exchangeBaseUrl: url }))))).toEqual({});
    const listed = await runCli(["--wallet", w, "api", "listExchanges", "-"], { input: '{"filterByExchangeEntryStatus": "ephemeral"}' });
    expect(JSON.parse(ok(listed)).exchanges).toHaveLength(1);

    const unknown = await cli(w, "api", "frob", "{}", "--json");
    refused(unknown, "operation-unknown");
    expect(JSON.parse(unknown.stdout)).toEqual({ error: { code: "operation-unknown", message: expect.any(String), details: { operation: "frob" } } });

    usage(await cli(w, "api", "getBalances", "{x"), "usage: wallet-engine api OPERATION [JSON]");

    // --debug: the same line, then the details and a stack.
    const debug = await cli(w, "api", "addExchange", '{"exchangeBaseUrl": 5}', "--debug");
    expect(debug.status).toBe(1);
    expect(debug.stderr).toMatch(/^error: url-invalid: addExchange\.exchangeBaseUrl must be a base URL string\ndetails: \{"path":"addExchange\.exchangeBaseUrl"\}\nWalletError: .*\n\s+at /);
  });

  it("a creating command that is refused leaves no new wallet behind; one that records something keeps it", async () => {
    const missing = walletPath();
    refused(await cli(missing, "backup", "import", join(missing, "..", "no-such-file.bin")), "file-unreadable");
    expect(existsSync(missing)).toBe(false);
    refused(await cli(missing, "exchanges", "add", "ftp://x.example/"), "url-invalid");
    expect(existsSync(missing)).toBe(false);
    expect((await cli(missing, "api", "noSuchOperation", "{}")).status).not.toBe(0);
    expect(existsSync(missing)).toBe(false);
    // An empty directory given to it stays, empty.
    const empty = walletPath();
    mkdirSync(empty);
    refused(await cli(empty, "exchanges", "add", "ftp://x.example/"), "url-invalid");
    expect(readdirSync(empty)).toEqual([]);
    // A wallet that already exists is never taken back, refused or not.
    const held = await preparedWallet(async () => {});
    refused(await cli(held, "exchanges", "add", "ftp://x.example/"), "url-invalid");
    expect(existsSync(join(held, "WALLET"))).toBe(true);
    ok(await cli(missing, "exchanges", "add", "https://ex.example/"));
    expect(existsSync(join(missing, "WALLET"))).toBe(true);
  });

  it("missing, empty, corrupt, locked and non-directory wallets: one line with the code, exit 1", async () => {
    const missing = walletPath();
    expect(refused(await cli(missing, "balances"), "wallet-not-found")).toContain(missing);
    expect(existsSync(missing)).toBe(false);

    const empty = walletPath();
    mkdirSync(empty);
    const r = await cli(empty, "log", "--json");
    refused(r, "wallet-not-found");
    expect(JSON.parse(r.stdout).error.code).toBe("wallet-not-found");

    const corrupt = await preparedWallet((wallet) => wallet.addExchange({ exchangeBaseUrl: url }));
    writeFileSync(join(corrupt, "wallet.mdb"), Buffer.alloc(8192, 0x5a));
    refused(await cli(corrupt, "exchanges", "list"), "store-corrupt");

    const marker = await preparedWallet(async () => {});
    writeFileSync(join(marker, "WALLET"), "{ not a marker");
    refused(await cli(marker, "clock"), "store-corrupt");

    const file = join(walletPath(), "..", "a-file");
    writeFileSync(file, "x");
    refused(await cli(file, "balances"), "store-open-failed");

    const locked = await preparedWallet(async () => {});
    const holder = await openWallet({ path: locked });
    try {
      refused(await cli(locked, "balances"), "store-locked");
    } finally {
      await holder.close();
    }
  });

  it("bad arguments: unknown command, unknown option, missing argument, group without subcommand exit 2 with the usage line", async () => {
    const [unknown, option, missing, group] = await Promise.all([
      runCli(["frob"]),
      runCli(["balances", "--frob"]),
      runCli(["spend", "COIN"]),
      runCli(["exchanges"]),
    ]);
    usage(unknown, /^usage: wallet-engine \[--wallet DIR\] \[--json\] COMMAND/);
    expect(unknown.stderr).toContain('unknown command "frob"');
    usage(option, /^usage: wallet-engine balances$/);
    expect(option.stderr).toMatch(/^wallet-engine: Unknown option '--frob'\n/);
    usage(missing, /^usage: wallet-engine spend \[options\] COINPUB AMOUNT$/);
    expect(missing.stderr).toMatch(/^wallet-engine: missing AMOUNT\n/);
    usage(group, /^usage: wallet-engine exchanges SUBCOMMAND/);
    expect(group.stderr).toContain("add, list, show, update, tos, accept-tos, suspend, unsuspend, delete");
  });

  it("rebuild folds the log again and reports that the projections matched", async () => {
    const w = await preparedWallet(async (wallet) => {
      await wallet.addExchange({ exchangeBaseUrl: url });
      await wallet.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: "C1", denomPubHash: "D", value: "KUDOS:1" }] });
      await wallet.recordSpend({ coinPub: "C1", amount: "KUDOS:0.5" });
    });
    const report = JSON.parse(ok(await cli(w, "rebuild", "--json")));
    expect(report).toMatchObject({ matched: true, events: 3, differences: [] });
    expect(report.records).toBeGreaterThan(0);
  });

  it("check verifies a sound store (exit 0), and refuses a missing wallet", async () => {
    const w = await preparedWallet((wallet) => wallet.addExchange({ exchangeBaseUrl: url }));
    const out = ok(await cli(w, "check"));
    expect(out).toMatch(/store:\s+ok/);
    expect(JSON.parse(ok(await cli(w, "check", "--json")))).toMatchObject({ ok: true, events: 1 });
    refused(await cli(walletPath(), "check"), "wallet-not-found");
  });

  it("sync add-provider of an address that is no sync provider fails with one line and exit status 1, adding nothing", async () => {
    const w = await preparedWallet(async () => {});
    refused(await cli(w, "sync", "add-provider", "http://127.0.0.1:1/"), "sync-network-error");
    expect(JSON.parse(ok(await cli(w, "sync", "info", "--json")))).toMatchObject({ providers: [] });
  });

  it("sync-server runs as a subcommand: --help, a usage error, and a start and a stop on SIGTERM", async () => {
    const help = await runCli(["sync-server", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: sync-server/);
    const bad = await runCli(["sync-server", "--port", "http"]);
    expect(bad.status).toBe(2);
    const data = walletPath();
    const live = liveCli(["sync-server", "--port", "0", "--data", data]);
    const [, baseUrl] = await live.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
    const config = await fetch(`${baseUrl}config`);
    expect(config.status).toBe(200);
    const r = await live.stop("SIGTERM");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("sync server stopped (SIGTERM)");
  });

  it("on a terminal (script(1)) a progress bar is drawn on stderr and statuses are coloured; piped, neither", async ({ skip }) => {
    const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;
    if (!hasScript) {
      console.log("PTY test skipped: util-linux script(1) is not installed (apt-get install bsdutils)");
      skip();
    }
    const w = await preparedWallet(async (wallet) => {
      await wallet.addExchange({ exchangeBaseUrl: url });
      await wallet.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: "C1", denomPubHash: "D", value: "KUDOS:1" }] });
    });
    const node = `${tool.map((a) => JSON.stringify(a)).join(" ")} --wallet ${JSON.stringify(w)}`;
    const onTty = spawnSync("script", ["-qec", `${node} rebuild; ${node} exchanges list; NO_COLOR=1 ${node} exchanges list`, "/dev/null"], {
      cwd: ROOT,
      encoding: "utf8",
      input: "",
      env: { ...process.env, TERM: "xterm", NO_COLOR: "" },
    });
    expect(onTty.status).toBe(0);
    const tty = onTty.stdout;
    expect(tty).toMatch(/\r\x1b\[Krebuild \[-{24}\] 0\/4 reading the stored projections/);
    expect(tty).toMatch(/\r\x1b\[Krebuild \[#{24}\] 4\/4/);
    expect(tty).toContain("\x1b[32mmatched\x1b[0m");
    expect(tty).toContain("\x1b[32mused\x1b[0m");
    // NO_COLOR: the same table without colour.
    const lists = tty.split(/EXCHANGE/);
    expect(lists).toHaveLength(3);
    expect(lists[2]).not.toContain("\x1b[");

    const piped = await cli(w, "rebuild");
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe("");
    expect(piped.stdout).not.toContain("\x1b");
    expect(piped.stdout).toMatch(/^projections:\s+matched\n/);
  });
});

/** The tool in this process, for what needs no wallet: every command's help and usage. */
function inProcessIo(opts: { tty?: boolean; env?: Record<string, string> } = {}) {
  const out = { stdout: "", stderr: "" };
  const io: CliIo = {
    stdout: { isTTY: opts.tty, write: (s: string | Uint8Array) => void (out.stdout += String(s)) },
    stderr: { isTTY: opts.tty, write: (s: string | Uint8Array) => void (out.stderr += String(s)) },
    stdin: undefined as never,
    env: opts.env ?? {},
    untilSignal: () => new Promise(() => {}),
  };
  return { io, out };
}

describe("wallet-engine in process: help, usage and formatting", () => {
  it("every command answers --help with its usage line and options, exit 0", async () => {
    for (const c of commands) {
      const { io, out } = inProcessIo();
      expect(await runCliInProcess([...c.words, "--help"], io)).toBe(0);
      expect(out.stdout).toBe(`${commandHelp(c)}\n`);
      expect(out.stdout.split("\n")[0]).toBe(usageLine(c));
      expect(out.stdout).toContain("--wallet DIR");
      expect(out.stdout).toContain("--json");
      for (const o of Object.keys(c.options)) expect(out.stdout).toContain(`--${o}`);
    }
    for (const group of ["exchanges", "backup", "sync"]) {
      const { io, out } = inProcessIo();
      expect(await runCliInProcess([group, "--help"], io)).toBe(0);
      expect(out.stdout).toMatch(new RegExp(`^usage: wallet-engine ${group} SUBCOMMAND`));
    }
  });

  it("every command with a missing argument or an unknown option exits 2 with its usage line", async () => {
    for (const c of commands) {
      const required = c.args.filter((a) => !a.optional).length;
      const tries = [[...c.words, "--no-such-option", ...c.args.map(() => "x")]];
      if (required > 0) tries.push([...c.words]);
      for (const argv of tries) {
        const { io, out } = inProcessIo();
        expect(await runCliInProcess(argv, io)).toBe(2);
        expect(out.stderr.split("\n")[1]).toBe(usageLine(c));
      }
    }
  });

  it("every command takes --json and --wallet; no two commands declare one option with two types", () => {
    const types = new Map<string, string>();
    for (const c of commands) {
      for (const [name, spec] of Object.entries(c.options)) {
        expect(["wallet", "json", "debug", "help"]).not.toContain(name);
        expect(types.get(name) ?? spec.type).toBe(spec.type);
        types.set(name, spec.type);
      }
    }
  });

  it("tables align columns and amounts line up on the decimal point; colour only on a TTY without NO_COLOR", () => {
    const plain = styleFor({ isTTY: false }, {});
    expect(alignAmounts(["KUDOS:5", "KUDOS:12.25", "EUR:0.5"])).toEqual(["KUDOS  5   ", "KUDOS 12.25", "EUR    0.5 "]);
    expect(table(plain, ["A", "BB"], [["xxx", "y"], ["z", { text: "used", colour: "green" }]])).toBe("A    BB\nxxx  y\nz    used");
    expect(styleFor({ isTTY: true }, {}).color).toBe(true);
    expect(styleFor({ isTTY: true }, { NO_COLOR: "1" }).color).toBe(false);
    expect(styleFor({ isTTY: true }, { TERM: "dumb" }).color).toBe(false);
    expect(table(styleFor({ isTTY: true }, {}), ["S"], [[{ text: "used", colour: "green" }]])).toBe("\x1b[1mS\x1b[0m\n\x1b[32mused\x1b[0m");
  });

  it("the progress bar draws on a terminal only, and erases itself", () => {
    const written: string[] = [];
    const piped = progressBar({ isTTY: false, write: (s) => written.push(s) }, {}, "work", 3);
    piped.update(1);
    piped.finish();
    expect(written).toEqual([]);
    let t = 0;
    const bar = progressBar({ isTTY: true, columns: 80, write: (s) => written.push(s) }, {}, "work", 4, () => t);
    bar.update(0, "start");
    bar.update(1, "skipped: too soon");
    t = 100;
    bar.update(2, "half");
    bar.update(4);
    bar.finish();
    expect(written).toEqual([
      `\r\x1b[Kwork [${"-".repeat(24)}] 0/4 start`,
      `\r\x1b[Kwork [${"#".repeat(12)}${"-".repeat(12)}] 2/4 half`,
      `\r\x1b[Kwork [${"#".repeat(24)}] 4/4`,
      "\r\x1b[K",
    ]);
  });

  it("compareDumps names the records a rebuild changed, added or lost", () => {
    const before = [
      { key: ["ex", "a"], value: { x: 1 } },
      { key: ["ex", "b"], value: { x: 1 } },
      { key: ["coin", "c"], value: 1 },
    ];
    const after = [
      { key: ["ex", "a"], value: { x: 1 } },
      { key: ["ex", "b"], value: { x: 2 } },
      { key: ["bal", "KUDOS"], value: 3 },
    ];
    expect(compareDumps(before, after)).toEqual([
      { key: '["bal","KUDOS"]', change: "added" },
      { key: '["coin","c"]', change: "missing" },
      { key: '["ex","b"]', change: "changed" },
    ]);
    expect(compareDumps(before, before)).toEqual([]);
  });
});

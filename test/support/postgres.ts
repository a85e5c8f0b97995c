// A throwaway PostgreSQL server for tests and benchmarks: initdb into a temp
// directory, pg_ctl start on a free loopback port (socket in that directory),
// stop and remove after. Debian keeps the binaries in /usr/lib/postgresql/*/bin.
import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface PostgresServer {
  /** Superuser URL of the `postgres` database: postgres://postgres@127.0.0.1:PORT/postgres. */
  url: string;
  port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (immediate shutdown) and removes its directory. */
  stop(): Promise<void>;
}

type Binaries = { ok: true; bin: string; runAs?: { user: string; uid: number; gid: number } } | { ok: false; reason: string };

function versionOf(dir: string): number {
  const n = Number.parseFloat(dir);
  return Number.isFinite(n) ? n : -1;
}

/** Where initdb and pg_ctl are and, when we are root, whom to run them as; or why they cannot run. */
export function findPostgres(): Binaries {
  const root = "/usr/lib/postgresql";
  let bin: string | undefined;
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((d) => existsSync(join(root, d, "bin", "initdb")) && existsSync(join(root, d, "bin", "pg_ctl")))
      .sort((a, b) => versionOf(b) - versionOf(a));
    if (versions.length > 0) bin = join(root, versions[0], "bin");
  }
  if (bin === undefined) {
    return { ok: false, reason: "no PostgreSQL binaries: /usr/lib/postgresql/*/bin/{initdb,pg_ctl} not found (apt-get install postgresql)" };
  }
  if (process.getuid?.() !== 0) return { ok: true, bin };
  // initdb refuses to run as root: use the unprivileged user Debian's package creates.
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  } catch {
    return { ok: false, reason: "running as root and there is no 'postgres' user to run initdb as" };
  }
  return { ok: true, bin, runAs: { user: "postgres", uid, gid } };
}

function run(b: Extract<Binaries, { ok: true }>, tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const file = b.runAs === undefined ? join(b.bin, tool) : "runuser";
  const argv = b.runAs === undefined ? args : ["-u", b.runAs.user, "--", join(b.bin, tool), ...args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: "utf8", timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${tool} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Starts a server. `durable: false` (the default, for tests) turns fsync off;
 * benchmarks pass `durable: true` to measure what a provider would run.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PostgresServer> {
  const b = findPostgres();
  if (!b.ok) throw new Error(b.reason);
  const dir = mkdtempSync(join(tmpdir(), "sync-pg-"));
  const data = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  if (b.runAs !== undefined) chownSync(dir, b.runAs.uid, b.runAs.gid);
  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });
  try {
    await run(b, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
  } catch (e) {
    cleanupDir();
    throw e;
  }

  let port = 0;
  let started = false;
  let lastError: unknown;
  // A free port can be taken between our probe and the server's bind: try a few.
  for (let attempt = 0; attempt < 4 && !started; attempt++) {
    port = await freePort();
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c max_connections=60",
      "-c shared_buffers=32MB",
      ...(opts.durable === true ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
    ].join(" ");
    try {
      await run(b, "pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "60", "-o", settings, "start"], 90_000);
      started = true;
    } catch (e) {
      lastError = e;
    }
  }
  if (!started) {
    let log = "";
    try {
      log = readFileSync(logFile, "utf8").slice(-2000);
    } catch {
      // No log: initdb's error already says enough.
    }
    cleanupDir();
    throw new Error(`PostgreSQL did not start: ${String(lastError)}\n${log}`);
  }

  const stopSync = () => {
    try {
      const argv = ["-D", data, "-m", "immediate", "-w", "stop"];
      if (b.runAs === undefined) execFileSync(join(b.bin, "pg_ctl"), argv, { stdio: "ignore" });
      else execFileSync("runuser", ["-u", b.runAs.user, "--", join(b.bin, "pg_ctl"), ...argv], { stdio: "ignore" });
    } catch {
      // Already stopped.
    }
    cleanupDir();
  };
  live.add(stopSync);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test run that dies before afterAll must not leave a postgres behind.
    process.once("exit", () => {
      for (const stop of live) stop();
    });
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let dbCounter = 0;
  return {
    url,
    port,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `t${process.pid}_${++dbCounter}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) throw new Error(`unsafe database name ${db}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${db}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    async stop(): Promise<void> {
      if (!live.delete(stopSync)) return;
      try {
        await run(b, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped: removing the directory is all that is left.
      }
      cleanupDir();
    },
  };
}

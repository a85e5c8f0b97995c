// Requests per second of the sync server on each backend: uploads that chain
// with If-Match (each client its own account, so every upload is stored) and
// GETs, for 1 KB and 1 MB backups. The server runs as its own process (the
// sync-server command, as a provider would run it) on loopback; the clients
// are a few concurrent fetch loops in this process. Figures are medians of a
// few rounds. PostgreSQL runs durable (fsync on), like LMDB's synced commits.
//   npx tsx bench/sync-server.ts                 both backends, 3 s per round
//   BENCH_SYNC_SECONDS=1 npx tsx bench/sync-server.ts
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { eddsaPublicFromSeed, randomBytes } from "../src/codec/keys.ts";
import { signSyncUpload } from "../src/transport/sync-protocol.ts";
import { findPostgres, startPostgres, type PostgresServer } from "../test/support/postgres.ts";
import { median } from "./measure.ts";
import { machineInfo } from "./report.ts";

export type SyncBenchBackend = "lmdb" | "postgres";

const CONCURRENCY = 4;
const ROUNDS = 3;
const SIZES = [
  { label: "1 KB", bytes: 1024 },
  { label: "1 MB", bytes: 1024 * 1024 },
] as const;

export interface SyncBenchRow {
  backend: SyncBenchBackend;
  operation: "upload" | "get" | "config";
  size: string;
  requestsPerSecond: number;
  roundsPerSecond: number[];
}

export interface SyncBenchResult {
  machine: string;
  concurrency: number;
  secondsPerRound: number;
  rounds: number;
  rows: SyncBenchRow[];
  skipped: { backend: SyncBenchBackend; reason: string }[];
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

interface RunningServer {
  baseUrl: string;
  child: ChildProcess;
}

/** Starts the sync-server command and resolves with its base URL (first line of its output). */
function startServerProcess(args: string[]): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/sync-server.ts", "--port", "0", "--storage-limit-mb", "8", ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let first = "";
    let resolved = false;
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdout.on("data", (c: Buffer) => {
      // After the first line the per-request log is only drained, so the pipe never blocks the server.
      if (resolved) return;
      first += c.toString();
      const url = /(http:\/\/\S+\/)/.exec(first)?.[1];
      if (url !== undefined) {
        resolved = true;
        resolve({ baseUrl: url, child });
      }
    });
    child.on("exit", (code) => {
      if (!resolved) reject(new Error(`sync-server exited (${code}) before listening: ${stderr}`));
    });
  });
}

function stopServerProcess(s: RunningServer): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null) return resolve();
    s.child.once("exit", () => resolve());
    s.child.kill("SIGTERM");
  });
}

interface Account {
  seed: Uint8Array;
  pub: string;
  last?: string;
}

function newAccount(): Account {
  const seed = randomBytes(32);
  return { seed, pub: encodeCrock(eddsaPublicFromSeed(seed)) };
}

async function upload(baseUrl: string, a: Account, blob: Uint8Array): Promise<void> {
  const hash = encodeCrock(sha512(blob));
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "If-None-Match": `"${hash}"`,
    "Sync-Signature": signSyncUpload(a.seed, a.last, hash),
  };
  if (a.last !== undefined) headers["If-Match"] = `"${a.last}"`;
  const resp = await fetch(`${baseUrl}backups/${a.pub}`, { method: "POST", headers, body: blob as Uint8Array<ArrayBuffer> });
  await resp.arrayBuffer();
  if (resp.status !== 204) throw new Error(`upload answered ${resp.status}`);
  a.last = hash;
}

async function download(baseUrl: string, a: Account): Promise<void> {
  const resp = await fetch(`${baseUrl}backups/${a.pub}`);
  await resp.arrayBuffer();
  if (resp.status !== 200) throw new Error(`GET answered ${resp.status}`);
}

/** Requests per second of CONCURRENCY loops doing `op` for `seconds`. */
async function rateFor(seconds: number, op: (worker: number) => Promise<void>): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let count = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      while (performance.now() < until) {
        await op(w);
        count++;
      }
    }),
  );
  return (count * 1000) / (performance.now() - t0);
}

async function benchOne(backend: SyncBenchBackend, baseUrl: string, seconds: number, rows: SyncBenchRow[], log: (s: string) => void) {
  // The floor of the HTTP path alone (no store): what the other rows are to be read against.
  const configRounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    configRounds.push(
      await rateFor(seconds, async () => {
        const resp = await fetch(`${baseUrl}config`);
        await resp.arrayBuffer();
      }),
    );
  }
  rows.push({ backend, operation: "config", size: "–", requestsPerSecond: median(configRounds), roundsPerSecond: configRounds });
  for (const size of SIZES) {
    const accounts = Array.from({ length: CONCURRENCY }, newAccount);
    // One buffer per worker, a counter in its first bytes: every upload is a new backup without new random megabytes.
    const blobs = accounts.map(() => randomBytes(size.bytes));
    let n = 0;
    const nextBlob = (w: number) => {
      new DataView(blobs[w].buffer).setUint32(0, ++n);
      return blobs[w];
    };
    await rateFor(0.3, (w) => upload(baseUrl, accounts[w], nextBlob(w))); // warm-up
    const uploads: number[] = [];
    const gets: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      uploads.push(await rateFor(seconds, (w) => upload(baseUrl, accounts[w], nextBlob(w))));
      gets.push(await rateFor(seconds, (w) => download(baseUrl, accounts[w])));
    }
    rows.push({ backend, operation: "upload", size: size.label, requestsPerSecond: median(uploads), roundsPerSecond: uploads });
    rows.push({ backend, operation: "get", size: size.label, requestsPerSecond: median(gets), roundsPerSecond: gets });
    log(`${backend} ${size.label}: upload ${median(uploads).toFixed(0)}/s, get ${median(gets).toFixed(0)}/s`);
  }
}

/** Measures the sync server on each backend; PostgreSQL is skipped (and said so) when its binaries are missing. */
export async function benchSyncServer(opts: {
  backends: SyncBenchBackend[];
  seconds?: number;
  log?: (line: string) => void;
}): Promise<SyncBenchResult> {
  const seconds = opts.seconds ?? 3;
  const log = opts.log ?? (() => {});
  const rows: SyncBenchRow[] = [];
  const skipped: SyncBenchResult["skipped"] = [];
  for (const backend of opts.backends) {
    const dir = mkdtempSync(join(tmpdir(), "sync-bench-"));
    let pgServer: PostgresServer | undefined;
    let server: RunningServer | undefined;
    try {
      if (backend === "postgres") {
        const found = findPostgres();
        if (!found.ok) {
          skipped.push({ backend, reason: found.reason });
          continue;
        }
        pgServer = await startPostgres({ durable: true });
        server = await startServerProcess(["--postgres", await pgServer.createDatabase("sync_bench")]);
      } else {
        server = await startServerProcess(["--data", dir]);
      }
      await benchOne(backend, server.baseUrl, seconds, rows, log);
    } finally {
      if (server !== undefined) await stopServerProcess(server);
      await pgServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { machine: machineInfo(), concurrency: CONCURRENCY, secondsPerRound: seconds, rounds: ROUNDS, rows, skipped };
}

/** The result as a markdown table: one row per operation and size, one column per backend. */
export function renderSyncBench(r: SyncBenchResult): string {
  const backends = [...new Set(r.rows.map((x) => x.backend))];
  const keys = [...new Set(r.rows.map((x) => `${x.operation}|${x.size}`))];
  const lines = [
    `## Sync server: requests per second`,
    "",
    `${r.machine}. Server: the sync-server command in its own process on loopback; ${r.concurrency} concurrent clients; median of ${r.rounds} rounds of ${r.secondsPerRound} s. Uploads chain with If-Match (every one stored, synced to disk).`,
    "",
    `| operation | size | ${backends.join(" | ")} |`,
    `|---|---|${backends.map(() => "---:").join("|")}|`,
  ];
  for (const key of keys) {
    const [operation, size] = key.split("|");
    const cells = backends.map((b) => {
      const row = r.rows.find((x) => x.backend === b && `${x.operation}|${x.size}` === key);
      return row === undefined ? "–" : row.requestsPerSecond.toFixed(0);
    });
    const label = operation === "upload" ? "POST backup (If-Match chain)" : operation === "get" ? "GET backup" : "GET /config (no store)";
    lines.push(`| ${label} | ${size} | ${cells.join(" | ")} |`);
  }
  for (const s of r.skipped) lines.push("", `${s.backend} skipped: ${s.reason}`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seconds = Number(process.env.BENCH_SYNC_SECONDS ?? 3);
  const result = await benchSyncServer({
    backends: ["lmdb", "postgres"],
    seconds,
    log: (s) => console.error(`[sync bench] ${s}`),
  });
  console.log(renderSyncBench(result));
}

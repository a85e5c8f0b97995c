// verifyStore: a full check of a wallet store, run in a child process. A
// damaged LMDB page can make lmdb-js crash its process (SIGSEGV, SIGBUS)
// instead of throwing; in a child, such a crash becomes a store-corrupt
// report and the host lives on.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WalletError } from "../errors.ts";

export type VerifyStoreResult =
  | { ok: true; events: number; records: number }
  | { ok: false; code: "store-corrupt"; problems: string[] };

export interface VerifyStoreOptions {
  /** The walk is killed after this long and reported as a failure (default 10 minutes). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
/** Keep the tail of what the child says on stderr: enough to name a native crash. */
const STDERR_KEEP = 4096;

/** Runs as TypeScript source (tsx, vitest) or as compiled JavaScript (dist): the child is this file's sibling either way. */
function childCommand(): string[] {
  const self = import.meta.url;
  const ts = /\.ts$/.test(new URL(self).pathname);
  const child = fileURLToPath(new URL(`./verify-store-child.${ts ? "ts" : "js"}`, self));
  if (!ts) return [child];
  // Resolved from here, not from the host's working directory, which may lie outside this package.
  const tsx = pathToFileURL(createRequire(self).resolve("tsx")).href;
  return ["--import", tsx, child];
}

const corrupt = (problems: string[]): VerifyStoreResult => ({ ok: false, code: "store-corrupt", problems });

/**
 * Walks the whole wallet store in `path` read-only (every checksum, the hash
 * chains, every record, and the projections against a fold of the log) in a
 * child process. A damaged store, or one that crashes the walk, is reported,
 * never thrown; a WalletError is thrown only when the check itself cannot run.
 */
export function verifyStore(path: string, options: VerifyStoreOptions = {}): Promise<VerifyStoreResult> {
  if (typeof path !== "string" || path === "") return Promise.reject(new WalletError("request-invalid", "verifyStore needs a wallet directory path"));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) return Promise.reject(new WalletError("request-invalid", "verifyStore: timeoutMs must be a positive integer"));
  const dir = resolve(path);

  return new Promise((done, fail) => {
    let child;
    try {
      child = spawn(process.execPath, [...childCommand(), dir], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      fail(new WalletError("internal-error", `cannot start the store check: ${(e as Error).message}`));
      return;
    }
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-STDERR_KEEP)));
    child.on("error", (e) => {
      clearTimeout(timer);
      fail(new WalletError("internal-error", `cannot start the store check: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split("\n").filter((l) => l !== "");
      const started = lines.length > 0 && lines[0] === JSON.stringify({ started: true });
      const last = lines.length > 1 ? parseReport(lines[lines.length - 1]) : undefined;
      const said = stderr.trim().split("\n").slice(-3).join(" | ");
      if (timedOut) {
        done(corrupt([`the check of ${dir} did not finish within ${timeoutMs} ms and was stopped (lmdb may loop on a damaged page)`]));
      } else if (!started) {
        fail(new WalletError("internal-error", `the store check could not start (exit ${code ?? signal}): ${said}`));
      } else if (signal !== null || code !== 0 || last === undefined) {
        const how = signal !== null ? `crashed (${signal})` : code !== 0 ? `crashed (exit code ${code})` : "ended without a report";
        done(corrupt([`reading ${dir} ${how}: the data file is damaged where lmdb cannot refuse it${said ? ` (${said})` : ""}`]));
      } else if (last.ok) {
        done({ ok: true, events: last.events, records: last.records });
      } else {
        done(corrupt(last.problems.length > 0 ? last.problems : ["the store check failed without naming a problem"]));
      }
    });
  });
}

function parseReport(line: string): { ok: boolean; problems: string[]; events: number; records: number } | undefined {
  try {
    const r = JSON.parse(line) as { ok?: unknown; problems?: unknown; events?: unknown; records?: unknown };
    if (typeof r.ok !== "boolean" || !Array.isArray(r.problems) || typeof r.events !== "number" || typeof r.records !== "number") return undefined;
    return { ok: r.ok, problems: r.problems.map(String), events: r.events, records: r.records };
  } catch {
    return undefined;
  }
}

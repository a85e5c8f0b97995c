// The command-line tool as a child process, the way a person or a script runs it.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/**
 * The sources as JavaScript, laid out as src/ is, for tests that start the
 * tool dozens of times: tsx costs each process about half a second of CPU
 * before the tool runs, a plain .js entry almost nothing. The transpiler is
 * TypeScript's own (no type check: typecheck does that), the same files and
 * the same relative imports as `node --import tsx src/cli/main.ts` runs.
 * It lives under node_modules/.cache so the packages resolve as from src/.
 */
export function transpiledCli(): { command: string[]; cleanup(): void } {
  const base = join(ROOT, "node_modules", ".cache");
  mkdirSync(base, { recursive: true });
  const out = mkdtempSync(join(base, "wallet-engine-cli-test-"));
  const src = join(ROOT, "src");
  for (const f of readdirSync(src, { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".ts")) continue;
    const { outputText } = ts.transpileModule(readFileSync(join(src, f), "utf8"), {
      fileName: f,
      compilerOptions: {
        module: ts.ModuleKind.ES2022,
        target: ts.ScriptTarget.ES2022,
        rewriteRelativeImportExtensions: true,
        allowImportingTsExtensions: true,
      },
    });
    const dest = join(out, "src", f.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, outputText);
  }
  writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
  return { command: [process.execPath, join(out, "src", "cli", "main.js")], cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

/** Child processes that run to their end, at most this many at once: more only make each slower on a small machine. */
const MAX_RUNNING = 2;
let running = 0;
const queue: (() => void)[] = [];

async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: no colour or terminal settings inherited from whoever runs the tests. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

/** Spawns `node --import tsx src/cli/main.ts ARGS` (or another command line). */
export function spawnCli(args: string[], opts: { env?: Record<string, string>; command?: string[] } = {}): ChildProcessWithoutNullStreams {
  const [cmd, ...pre] = opts.command ?? [process.execPath, "--import", "tsx", MAIN];
  return spawn(cmd, [...pre, ...args], { cwd: ROOT, env: cliEnv(opts.env), stdio: "pipe" });
}

/** Runs the tool to its end; `input` is written to its stdin (which is then closed). */
export function runCli(args: string[], opts: { input?: string | Uint8Array; env?: Record<string, string>; command?: string[] } = {}): Promise<CliResult> {
  return slot(() => collect(spawnCli(args, opts), opts.input));
}

export function collect(child: ChildProcessWithoutNullStreams, input?: string | Uint8Array): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** A running tool whose output is read as it comes (log --follow, serve, sync-server). */
export interface LiveCli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Waits until stdout (or stderr) holds a match of `pattern`. */
  waitFor(pattern: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number): Promise<RegExpMatchArray>;
  send(line: string): void;
  /** Sends `signal` and waits for the end. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

export function liveCli(args: string[], opts: { env?: Record<string, string>; command?: string[] } = {}): LiveCli {
  const child = spawnCli(args, opts);
  const out = { stdout: "", stderr: "" };
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout.setEncoding("utf8").on("data", (d: string) => ((out.stdout += d), wake()));
  child.stderr.setEncoding("utf8").on("data", (d: string) => ((out.stderr += d), wake()));
  const ended = new Promise<CliResult>((resolve) =>
    child.on("close", (status, signal) => {
      resolve({ status, signal, ...out });
      wake();
    }),
  );
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor(pattern, stream = "stdout", timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out[stream].match(pattern);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the tool ended before printing ${pattern}; stdout: ${out.stdout}\nstderr: ${out.stderr}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms; stdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return ended;
    },
  };
}

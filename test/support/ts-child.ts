// A TypeScript child process for tests that need a second process (writer
// locks, native crashes): started with tsx, talked to in lines.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface TsChild {
  readonly proc: ChildProcessWithoutNullStreams;
  /** The next line the child prints that `match` accepts (earlier ones are skipped); rejects if it exits first. */
  line(match?: (l: string) => boolean): Promise<string>;
  /** Every line printed so far. */
  readonly lines: string[];
  send(line: string): void;
  /** Resolves when the child has exited and its output is drained. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts `test/support/<script>` with `args`; killed with SIGKILL after `timeoutMs` (a hung child fails its test, not the run). */
export function startTsChild(script: string, args: string[], opts: { timeoutMs?: number; execArgv?: string[] } = {}): TsChild {
  const file = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const proc = spawn(process.execPath, [...(opts.execArgv ?? []), "--import", "tsx", file, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  const lines: string[] = [];
  // Lines are consumed in order: line() looks from just after the last line it returned.
  let next = 0;
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  let stderr = "";
  let ended = false;
  const guard = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 50_000);
  proc.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  createInterface({ input: proc.stdout }).on("line", (l) => {
    lines.push(l);
    const w = waiters[0];
    if (w && w.match(l)) {
      waiters.shift();
      next = lines.length;
      w.resolve(l);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    proc.on("close", (code, signal) => {
      clearTimeout(guard);
      ended = true;
      for (const w of waiters.splice(0)) w.reject(new Error(`child ${script} exited (${code ?? signal}) before the line; stderr:\n${stderr}`));
      resolve({ code, signal, stderr });
    });
  });
  return {
    proc,
    lines,
    exited,
    line(match = () => true) {
      return new Promise((resolve, reject) => {
        for (let i = next; i < lines.length; i++) {
          if (match(lines[i])) {
            next = i + 1;
            return resolve(lines[i]);
          }
        }
        next = lines.length;
        if (ended) return reject(new Error(`child ${script} already exited; stderr:\n${stderr}`));
        waiters.push({ match, resolve, reject });
      });
    },
    send(l) {
      proc.stdin.write(`${l}\n`);
    },
  };
}

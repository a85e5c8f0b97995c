// Crash safety: a child process appends to a wallet store (single events,
// batches, device-local events, withdrawals and spends) and is killed with
// SIGKILL mid-stream. Reopening must find a dense, hash-chained prefix of the
// log holding at least every commit the child reported, with projections
// equal to a fold of that log. Three kills at different moments, each run
// continuing the same directory.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openWallet } from "../src/wallet.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { tempDir } from "./support/temp-wallet.ts";

const CHILD = fileURLToPath(new URL("./support/crash-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The child's largest batch: at most this many events may be committed but not yet reported. */
const MAX_BATCH = 7;

interface ChildRun {
  /** seq the child found on open. */
  startedAt: number;
  /** Last seq the child reported as committed before it died. */
  reported: number;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the child until it has reported `killAt` committed events, then SIGKILLs it. */
function runAndKill(dir: string, label: string, killAt: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, label], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let startedAt = -1;
    let reported = -1;
    let stderr = "";
    let killed = false;
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child did not reach ${killAt} events in time (reported ${reported}); stderr:\n${stderr}`));
    }, 50_000);
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [word, n] = line.split(" ");
      if (word === "ready") startedAt = Number(n);
      if (word !== "committed") return;
      // Keep reading after the kill: the child commits on until the signal lands.
      reported = Math.max(reported, Number(n));
      if (reported >= killAt && !killed) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    // "close" comes after stdout is drained, so `reported` is the child's last word.
    child.on("close", (_code, signal) => {
      clearTimeout(guard);
      resolve({ startedAt, reported, signal, stderr });
    });
  });
}

const hashOf = (e: WalletEvent) => encodeCrock(sha512(canonicalJson(e)));

describe("crash safety", () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it("after each SIGKILL the log is a dense chained prefix with every reported commit, and projections equal a rebuild", async () => {
    let previous = 0;
    // Kill moments vary so the kill lands on different kinds of transactions and log sizes.
    const killPoints = [250 + Math.floor(Math.random() * 100), 300 + Math.floor(Math.random() * 300), 200 + Math.floor(Math.random() * 500)];
    for (const [i, extra] of killPoints.entries()) {
      const run = await runAndKill(dir.path, `run${i}`, previous + extra);
      expect(run.signal, run.stderr).toBe("SIGKILL");
      expect(run.startedAt).toBe(previous);

      const w = await openWallet({ path: dir.path });
      try {
        const log = await w.exportEvents();
        const n = log.length;
        // Dense prefix: seq 1..n, each chained to its predecessor.
        expect(log.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, k) => k + 1));
        expect(log[0].prev).toBeUndefined();
        for (let k = 1; k < n; k++) expect(log[k].prev).toBe(hashOf(log[k - 1]));
        expect(await w.getVectorClock()).toEqual({ [w.deviceId]: n });
        // Nothing reported is lost; at most the one transaction in flight is in the log unreported.
        expect(run.reported).toBeGreaterThanOrEqual(previous + extra);
        expect(n).toBeGreaterThanOrEqual(run.reported);
        expect(n - run.reported).toBeLessThanOrEqual(MAX_BATCH);

        const dump = await w.dumpProjections();
        expect(dump.some((r) => r.key[0] === "coin")).toBe(true);
        expect(dump.some((r) => r.key[0] === "upd")).toBe(true);
        const balances = await w.getBalances();
        await w.rebuild();
        expect(await w.dumpProjections()).toEqual(dump);
        expect(await w.getBalances()).toEqual(balances);
        previous = n;
      } finally {
        await w.close();
      }
    }
  });
});

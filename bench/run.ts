// The benchmark suite: `npm run bench` (full: 10k, 100k, 1M events; peers at
// 10k, 30k, 100k operations per device; 3 reps), `npm run bench -- --quick`
// (a smoke run), or any sizes by flag (see config.ts and bench/README.md).
//
// Every case runs in its own child process (bench/case.ts) so its peak RSS is
// its own. Ours and its raw lmdb ceiling run next to each other in every
// repetition (in alternating order), and so do the three merge peers, so a
// noisy shared machine hits both sides of every ratio alike.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CaseArgs, CaseResult } from "./cases.ts";
import { benchConfig, type BenchConfig } from "./config.ts";
import { machine, writeResults, type RunRecord } from "./report.ts";
import type { PhaseMemory } from "./measure.ts";
import { openWorkspace } from "./workspace.ts";

const CASE_SCRIPT = join(fileURLToPath(new URL(".", import.meta.url)), "case.ts");

/** Ours and its ceiling, in the order they run within a repetition. */
const HISTORY_PAIRS: string[][] = [
  ["append-batched", "raw-batched"],
  ["append-chunked", "raw-chunked"],
  ["append-durable", "raw-durable-txn", "raw-durable-putsync"],
  ["import", "raw-import"],
  ["reimport", "raw-reimport"],
  ["rebuild", "raw-scan"],
  ["reopen", "raw-reopen"],
];
const PEERS = ["merge-ours", "merge-yjs", "merge-automerge"];

const started = performance.now();
const log = (s: string) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s] ${s}`);

/** A failed case is logged and recorded, and the run goes on: one flaky case must not lose an hour of figures. */
const failures: { case: string; n: number; message: string }[] = [];

// V8's default old space (~4 GiB here) is smaller than Yjs needs for the merge at 100k operations per
// device: it aborted there. Every case gets the same larger limit, so no system runs under other rules.
const HEAP_MB = 16_384;

function runCase(name: string, args: CaseArgs): (CaseResult & { maxRssBytes: number; phase?: PhaseMemory }) | undefined {
  const child = spawnSync(process.execPath, ["--expose-gc", `--max-old-space-size=${HEAP_MB}`, "--import", "tsx", CASE_SCRIPT, name, JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const line = child.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (child.status !== 0 || !line) {
    const message = `exit ${child.status ?? child.signal}: ${(child.stderr ?? "").split("\n").find((l) => /Error/.test(l)) ?? "no error line"}`;
    failures.push({ case: name, n: args.n, message });
    log(`n=${args.n} ${name} FAILED (${message})`);
    return undefined;
  }
  return JSON.parse(line.slice("RESULT ".length));
}

const fmt = (r: CaseResult & { maxRssBytes: number; phase?: PhaseMemory }) =>
  `${r.ms.toFixed(1)} ms, ${((r.ms * 1000) / r.events).toFixed(1)} µs/event, RSS ${((r.phase?.peakBytes ?? r.maxRssBytes) / 2 ** 20).toFixed(0)} MiB timed, ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB process`;

function main(config: BenchConfig) {
  const ws = openWorkspace();
  const runs: RunRecord[] = [];
  const prepare: RunRecord[] = [];
  log(`${machine().summary}`);
  log(`sizes ${config.sizes.join(", ")}; peer sizes ${config.peerSizes.join(", ")}; reps ${config.reps}; durable ${config.durable}; chunk ${config.chunk}; seed ${config.seed}`);
  try {
    for (const n of config.sizes) {
      const data = ws.fresh(`history-${n}`);
      const args = (scratch: string): CaseArgs => ({ data, scratch, seed: config.seed, n, chunk: config.chunk, importChunk: config.importChunk, tail: config.durable });
      for (const name of ["prepare-own", "prepare-multi"]) {
        const r = runCase(name, args(""));
        if (!r) throw new Error(`cannot prepare the history of ${n} events`);
        prepare.push({ case: name, n, rep: 0, ...r });
        log(`n=${n} ${name}: ${(r.ms / 1000).toFixed(1)} s (untimed setup)`);
      }
      for (let rep = 1; rep <= config.reps; rep++) {
        for (const pair of HISTORY_PAIRS) {
          const order = rep % 2 === 1 ? pair : [...pair].reverse();
          for (const name of order) {
            const scratch = ws.fresh(`${name}-${n}`);
            const r = runCase(name, args(scratch));
            rmSync(scratch, { recursive: true, force: true });
            if (!r) continue;
            runs.push({ case: name, n, rep, ...r });
            log(`n=${n} rep ${rep} ${name}: ${fmt(r)}`);
          }
        }
      }
      rmSync(data, { recursive: true, force: true });
    }
    for (const n of config.peerSizes) {
      for (let rep = 1; rep <= config.reps; rep++) {
        for (let k = 0; k < PEERS.length; k++) {
          const name = PEERS[(k + rep - 1) % PEERS.length];
          const scratch = ws.fresh(`${name}-${n}`);
          const r = runCase(name, { data: "", scratch, seed: config.seed, n, chunk: config.chunk, importChunk: config.importChunk, tail: 0 });
          rmSync(scratch, { recursive: true, force: true });
          if (!r) continue;
          runs.push({ case: name, n, rep, ...r });
          log(`peers n=${n}/device rep ${rep} ${name}: merge ${(r.ms / 1000).toFixed(2)} s, encoded ${r.peer!.encodedBytes} B, RSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
        }
      }
    }
  } finally {
    ws.remove();
  }
  const files = writeResults({ config, runs, prepare, failures, totalSeconds: (performance.now() - started) / 1000 });
  log(`written: ${files.join(", ")}`);
}

main(benchConfig(process.argv.slice(2)));

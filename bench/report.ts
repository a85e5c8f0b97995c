// The printed table and bench/results/latest.md: one markdown document with
// the machine, the settings and every figure of the run.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AppendCosts } from "./append-costs.ts";
import type { BenchConfig } from "./config.ts";
import type { Rate } from "./measure.ts";
import type { QueryFigures } from "./queries.ts";

export interface RunFigures {
  config: BenchConfig;
  rawBatched: Rate;
  rawSingle: Rate;
  oursBatched: Rate;
  oursChunked: Rate;
  oursSingle: Rate;
  import: Rate;
  costs: AppendCosts;
  queries: QueryFigures;
  rawValueBytes: number;
  eventBytes: number;
  totalSeconds: number;
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");
const fixed = (x: number, d = 1) => x.toFixed(d);

export function machineInfo(): string {
  const cpu = cpus();
  return [
    `node ${process.version} on ${process.platform}/${process.arch}`,
    `${cpu.length} CPU(s): ${cpu[0]?.model ?? "unknown"}`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
  ].join("; ");
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** How many times longer one event takes than one raw put of the baseline. */
const slower = (ours: Rate, raw: Rate) => `${fixed(raw.perSecond / ours.perSecond)}×`;

export function renderReport(f: RunFigures, when: Date): string {
  const c = f.config;
  const rateRow = (name: string, r: Rate, vs: string) => row([name, int(r.count), fixed(r.medianMs), int(r.perSecond), vs]);
  const lines = [
    `# Benchmarks (${when.toISOString()})`,
    "",
    `Machine: ${machineInfo()}.`,
    `Settings: BENCH_N=${c.n}, BENCH_REPS=${c.reps} (slow cases ${c.slowReps}), durable cases on ${c.durableN} events (BENCH_DURABLE_N), chunked batches of ${c.chunk}.`,
    `Mean stored msgpack size: raw baseline values ${int(f.rawValueBytes)} B, our events ${int(f.eventBytes)} B.`,
    `Every figure is a median of repetitions in this one run; "vs raw" is raw rate / our rate (how many raw puts fit in the time of one of our events).`,
    "",
    "## Append and import",
    "",
    row(["case", "events", "median ms", "events/s", "vs raw"]),
    row(["---", "---:", "---:", "---:", "---:"]),
    rateRow("raw lmdb put, all in one transactionSync", f.rawBatched, "1.0× (baseline)"),
    rateRow(`raw lmdb put, one transactionSync (fsync) per put, ${c.durableN} events`, f.rawSingle, "1.0× (baseline)"),
    rateRow(`our append, 1 batch of ${c.n}`, f.oursBatched, `${slower(f.oursBatched, f.rawBatched)} raw batched`),
    rateRow(`our append, batches of ${c.chunk}`, f.oursChunked, `${slower(f.oursChunked, f.rawBatched)} raw batched`),
    rateRow(`our append, one durable write per event, ${c.durableN} events`, f.oursSingle, `${slower(f.oursSingle, f.rawSingle)} raw single`),
    rateRow(`importEvents: ${c.n} remote events into a wallet holding ${c.n}`, f.import, `${slower(f.import, f.rawBatched)} raw batched`),
    "",
    `## Where the batched append's time goes (1 batch of ${c.n}; differences of medians, so ±10% noise per row)`,
    "",
    row(["component", "ms", "µs/event", "share"]),
    row(["---", "---:", "---:", "---:"]),
    ...costRows(f).map(([name, ms]) => row([name, fixed(ms), fixed((ms * 1000) / c.n, 2), `${fixed((100 * ms) / f.costs.fullMs, 0)}%`])),
    "",
    `## Queries on a ${c.n}-event history`,
    "",
    row(["query", "median"]),
    row(["---", "---:"]),
    ...Object.entries(f.queries.latencyUs).map(([q, us]) => row([q, `${fixed(us)} µs`])),
    row(["reopen (close + openWallet)", `${fixed(f.queries.reopenMs, 2)} ms`]),
    row(["rebuild from the log (for contrast: what a replay would cost)", `${int(f.queries.rebuildMs)} ms`]),
    "",
    `Reopen took ${fixed((100 * f.queries.reopenMs) / f.queries.rebuildMs, 2)}% of a rebuild: it reads persisted projections, it does not replay the log.`,
    `History state: balances ${f.queries.balances}; ${f.queries.conflicts} double-spend conflicts.`,
    `Whole run: ${int(f.totalSeconds)} s.`,
    "",
  ];
  return lines.join("\n");
}

function costRows(f: RunFigures): [string, number][] {
  const k = f.costs;
  return [
    ["event hash (canonical JSON + SHA-512)", k.hashMs],
    ["payload validation", k.validateMs],
    ["log writes: stamp, events + arrival + head puts, commit", k.logOnlyMs - k.hashMs - k.validateMs],
    ["coins projection: reducer logic (amounts, record copies; timed on an in-memory Map)", k.coinsReducerMs],
    ["coins projection: its LMDB record gets/puts (msgpack, random-key pages), commit, GC", k.coinsOnlyMs - k.logOnlyMs - k.coinsReducerMs],
    ["exchanges projection (immer per record)", k.exchangesOnlyMs - k.logOnlyMs],
    ["residual (interaction of the parts, noise between medians)", k.fullMs - k.coinsOnlyMs - k.exchangesOnlyMs + k.logOnlyMs],
    ["total: full append with all projections, timed in this loop", k.fullMs],
  ];
}

export function writeLatest(markdown: string): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "latest.md");
  writeFileSync(file, markdown);
  return file;
}

// Turns the runs of one benchmark run into bench/results/latest.json and
// latest.md, the target table in bench/README.md, and bench/cost-vs-history.svg.
// Everything is derived from the same runs, so the four always agree.
//   node --import tsx bench/report.ts    re-renders them from latest.json
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { CaseResult } from "./cases.ts";
import { costChart } from "./chart.ts";
import type { BenchConfig } from "./config.ts";
import { median, stat, type PhaseMemory, type Stat } from "./measure.ts";

/** One case's process: its figures, its whole-process peak RSS and the memory of its timed phases (absent in runs before 2026-12-03 15:00 UTC). */
export type RunRecord = CaseResult & { case: string; n: number; rep: number; maxRssBytes: number; phase?: PhaseMemory };

/** The largest of a figure over runs, NaN when a run lacks it (runs before it was recorded, or without /proc). */
const maxOf = (rs: RunRecord[], f: (r: RunRecord) => number | undefined) => {
  const xs = rs.map(f);
  return xs.some((x) => x === undefined || Number.isNaN(x)) ? NaN : Math.max(...(xs as number[]));
};

export interface RunData {
  config: BenchConfig;
  runs: RunRecord[];
  prepare: RunRecord[];
  /** Cases whose process failed; their figures are missing from the tables. */
  failures: { case: string; n: number; message: string }[];
  totalSeconds: number;
}

export interface Machine {
  summary: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  loadAverage: number[];
}

export function machine(): Machine {
  const cpu = cpus();
  const m = {
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
  return { summary: `node ${m.node} on ${m.platform}; ${m.cpus} CPU(s): ${m.cpuModel}; ${m.memoryGiB} GiB RAM; load average ${m.loadAverage.join(" ")}`, ...m };
}

/** The machine in one line, for the side benchmarks' tables. */
export const machineInfo = (): string => machine().summary;

const BENCH = dirname(fileURLToPath(import.meta.url));
const GiB = 2 ** 30;
const MiB = 2 ** 20;

// ---------------------------------------------------------------- what each history case is

export interface Operation {
  /** Our case and its raw lmdb ceiling (its figures share the same events). */
  ours: string;
  raw: string;
  label: string;
  ceiling: string;
  /** Legend of the chart. */
  short: string;
}

export const OPERATIONS: Operation[] = [
  { short: "append, one transaction", ours: "append-batched", raw: "raw-batched", label: "append, whole history in one transaction", ceiling: "put all in one transactionSync" },
  { short: "append, chunked", ours: "append-chunked", raw: "raw-chunked", label: "append, one transaction per chunk", ceiling: "one transactionSync per chunk" },
  { short: "append, durable per event", ours: "append-durable", raw: "raw-durable-putsync", label: "append, one durable transaction per event, onto the history", ceiling: "putSync per event" },
  { short: "import N into N", ours: "import", raw: "raw-import", label: "importEvents of N remote events (3 devices) into an N-event wallet", ceiling: "put all in one transactionSync into a store holding N" },
  { short: "re-import (all held)", ours: "reimport", raw: "raw-reimport", label: "re-import of N already-held events", ceiling: "put all again in one transactionSync" },
  { short: "rebuild", ours: "rebuild", raw: "raw-scan", label: "rebuild projections from the log", ceiling: "read every event once" },
  { short: "reopen + getBalances", ours: "reopen", raw: "raw-reopen", label: "reopen + first getBalances (µs per event held)", ceiling: "open + read one event" },
];

// ---------------------------------------------------------------- summaries

const runsOf = (d: RunData, c: string, n: number) => d.runs.filter((r) => r.case === c && r.n === n).sort((a, b) => a.rep - b.rep);
const usPerEvent = (r: RunRecord) => (r.ms * 1000) / r.events;

/** A figure computed per repetition from ours and its ceiling of that repetition, then summarized. */
function perRep(d: RunData, a: string, b: string, n: number, f: (x: RunRecord, y: RunRecord) => number): Stat | undefined {
  const xs = runsOf(d, a, n);
  const ys = runsOf(d, b, n);
  const out: number[] = [];
  for (const x of xs) {
    const y = ys.find((r) => r.rep === x.rep);
    if (y) out.push(f(x, y));
  }
  return out.length > 0 ? stat(out) : undefined;
}

/** Our rate over the ceiling's rate (1.0 = as fast as raw lmdb). */
const rateRatio = (ours: RunRecord, raw: RunRecord) => usPerEvent(raw) / usPerEvent(ours);

export interface OperationSummary {
  operation: string;
  n: number;
  events: number;
  oursUsPerEvent: Stat;
  rawUsPerEvent: Stat;
  oursEventsPerSecond: number;
  rawEventsPerSecond: number;
  /** Our rate / raw rate, per repetition. */
  rateVsRaw: Stat;
  /** Largest over repetitions: whole process, setup included. */
  oursMaxRssMiB: number;
  rawMaxRssMiB: number;
  /** Largest over repetitions: while timed, and ours split into anonymous memory and mapped file pages. */
  oursPhaseMiB: number;
  rawPhaseMiB: number;
  oursAnonMiB: number;
  oursFileMiB: number;
}

export function summarizeHistory(d: RunData): OperationSummary[] {
  const out: OperationSummary[] = [];
  for (const n of d.config.sizes) {
    for (const op of OPERATIONS) {
      const ours = runsOf(d, op.ours, n);
      const raw = runsOf(d, op.raw, n);
      if (ours.length === 0 || raw.length === 0) continue;
      const o = stat(ours.map(usPerEvent));
      const r = stat(raw.map(usPerEvent));
      out.push({
        operation: op.ours,
        n,
        events: ours[0].events,
        oursUsPerEvent: o,
        rawUsPerEvent: r,
        oursEventsPerSecond: 1e6 / o.median,
        rawEventsPerSecond: 1e6 / r.median,
        rateVsRaw: perRep(d, op.ours, op.raw, n, rateRatio)!,
        oursMaxRssMiB: Math.max(...ours.map((x) => x.maxRssBytes)) / MiB,
        rawMaxRssMiB: Math.max(...raw.map((x) => x.maxRssBytes)) / MiB,
        oursPhaseMiB: maxOf(ours, (x) => x.phase?.peakBytes) / MiB,
        rawPhaseMiB: maxOf(raw, (x) => x.phase?.peakBytes) / MiB,
        oursAnonMiB: maxOf(ours, (x) => x.phase?.anonBytes) / MiB,
        oursFileMiB: maxOf(ours, (x) => x.phase?.fileBytes) / MiB,
      });
    }
  }
  return out;
}

export interface PeerSummary {
  system: string;
  n: number;
  mergeMs: Stat;
  /** Their merge time over ours, per repetition (how many times faster we are). */
  slowerThanOurs: Stat | undefined;
  encodedBytes: number;
  maxRssMiB: Stat;
  /** While the merge ran (undefined when a run did not record it). */
  phaseMiB: Stat | undefined;
  setupMs: Stat;
  rawLmdbBytes?: number;
  gzipJsonBytes?: number;
}

export const PEER_SYSTEMS: Record<string, string> = { "merge-ours": "ours", "merge-yjs": "Yjs", "merge-automerge": "Automerge" };

export function summarizePeers(d: RunData): PeerSummary[] {
  const out: PeerSummary[] = [];
  for (const n of d.config.peerSizes) {
    for (const [c, system] of Object.entries(PEER_SYSTEMS)) {
      const rs = runsOf(d, c, n);
      if (rs.length === 0) continue;
      const p = rs.map((r) => r.peer!);
      const s: PeerSummary = {
        system,
        n,
        mergeMs: stat(rs.map((r) => r.ms)),
        slowerThanOurs: c === "merge-ours" ? undefined : perRep(d, c, "merge-ours", n, (x, y) => x.ms / y.ms),
        encodedBytes: median(p.map((x) => x.encodedBytes)),
        maxRssMiB: stat(rs.map((r) => r.maxRssBytes / MiB)),
        phaseMiB: rs.every((r) => r.phase) ? stat(rs.map((r) => r.phase!.peakBytes / MiB)) : undefined,
        setupMs: stat(p.map((x) => x.setupMs)),
      };
      if (p[0].rawLmdbBytes !== undefined) s.rawLmdbBytes = median(p.map((x) => x.rawLmdbBytes!));
      if (p[0].gzipJsonBytes !== undefined) s.gzipJsonBytes = median(p.map((x) => x.gzipJsonBytes!));
      out.push(s);
    }
  }
  return out;
}

// ---------------------------------------------------------------- targets

export interface TargetRow {
  target: string;
  /** Where it was measured (size), and how the ratio reads. */
  where: string;
  measured: Stat | undefined;
  unit: string;
  met: boolean | undefined;
}

/** The size a target names, or the nearest below it that ran (then the row says so). */
function sizeFor(sizes: number[], wanted: number): number | undefined {
  const below = sizes.filter((s) => s <= wanted);
  return below.length > 0 ? Math.max(...below) : sizes.length > 0 ? Math.min(...sizes) : undefined;
}

const k = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1_000 ? `${n / 1_000}k` : String(n));

export function targets(d: RunData): TargetRow[] {
  const rows: TargetRow[] = [];
  const sizes = d.config.sizes;
  const at = (wanted: number) => sizeFor(sizes, wanted);
  const atNote = (n: number | undefined, wanted: number) => (n === undefined ? "not run" : n === wanted ? `N = ${k(n)}` : `N = ${k(n)} (${k(wanted)} not run)`);
  const row = (target: string, n: number | undefined, wanted: number, measured: Stat | undefined, unit: string, ok: (x: number) => boolean) =>
    rows.push({ target, where: atNote(n, wanted), measured, unit, met: measured === undefined ? undefined : ok(measured.median) });
  const ratio = (a: string, b: string, n: number | undefined, f: (x: RunRecord, y: RunRecord) => number) => (n === undefined ? undefined : perRep(d, a, b, n, f));

  const big = at(1_000_000);
  const n100k = at(100_000);
  row("batched append ≥ 25% of raw batched put", big, 1_000_000, ratio("append-batched", "raw-batched", big, rateRatio), "× raw rate", (x) => x >= 0.25);
  row("single durable append ≥ 50% of raw putSync", big, 1_000_000, ratio("append-durable", "raw-durable-putsync", big, rateRatio), "× raw rate", (x) => x >= 0.5);
  row("import of N remote events into an N wallet ≥ 25% of raw batched put", n100k, 100_000, ratio("import", "raw-import", n100k, rateRatio), "× raw rate", (x) => x >= 0.25);
  row("re-import of N held events ≥ 2× raw batched put", n100k, 100_000, ratio("reimport", "raw-reimport", n100k, rateRatio), "× raw rate", (x) => x >= 2);
  const rebuild = big === undefined ? undefined : runsOf(d, "rebuild", big);
  row("rebuild ≥ 300k events/s", big, 1_000_000, rebuild?.length ? stat(rebuild.map((r) => r.events / (r.ms / 1000))) : undefined, "events/s", (x) => x >= 300_000);
  const small = sizes.length > 0 ? Math.min(...sizes) : undefined;
  const reopen = big !== undefined && small !== undefined && big !== small ? reopenRatio(d, big, small) : undefined;
  rows.push({
    target: "reopen + first getBalances of a 1M wallet within 2× of a 10k wallet",
    where: big === undefined || small === undefined ? "not run" : `N = ${k(big)} vs ${k(small)}`,
    measured: reopen,
    unit: "× time",
    met: reopen === undefined ? undefined : reopen.median <= 2,
  });
  row("LMDB file ≤ 3× raw lmdb of the same records", big, 1_000_000, ratio("append-batched", "raw-batched", big, (x, y) => x.bytes! / y.bytes!), "× raw bytes", (x) => x <= 3);
  // The target is the engine's: raw lmdb and the peer libraries are reported beside it, not in it.
  const ours = d.runs.filter(isOurs);
  const others = d.runs.filter((r) => !isOurs(r));
  const worst = (rs: RunRecord[], f: (r: RunRecord) => number) => rs.reduce<RunRecord | undefined>((w, r) => (w === undefined || f(r) > f(w) ? r : w), undefined);
  const peakNote = (f: (r: RunRecord) => number, what: string) => {
    const w = worst(ours, f);
    const o = worst(others, f);
    const gib = (r: RunRecord) => (f(r) / GiB).toFixed(2);
    return `our cases, ${what}; max ${w ? `${w.case} at ${k(w.n)}` : "none"}${o ? ` (raw and peers: max ${gib(o)} GiB, ${o.case} at ${k(o.n)})` : ""}`;
  };
  const timedBytes = (r: RunRecord) => r.phase!.peakBytes;
  const rssTimed = ours.length > 0 && ours.every((r) => r.phase) ? stat(ours.map((r) => timedBytes(r) / GiB)) : undefined;
  rows.push({
    target: "peak RSS < 1 GiB for any run, while timed",
    where: rssTimed === undefined ? "not measured" : peakNote((r) => r.phase?.peakBytes ?? 0, "their timed phases"),
    measured: rssTimed,
    unit: "GiB",
    met: rssTimed === undefined ? undefined : rssTimed.max < 1,
  });
  const rss = ours.length > 0 ? stat(ours.map((r) => r.maxRssBytes / GiB)) : undefined;
  rows.push({
    target: "peak RSS < 1 GiB for any run, whole process",
    where: rss === undefined ? "not measured" : peakNote((r) => r.maxRssBytes, "whole child process, setup and checks included"),
    measured: rss,
    unit: "GiB",
    met: rss === undefined ? undefined : rss.max < 1,
  });
  const peer = sizeFor(d.config.peerSizes, 100_000);
  row("3-device merge ≥ 5× faster than Yjs", peer, 100_000, peer === undefined ? undefined : perRep(d, "merge-yjs", "merge-ours", peer, (x, y) => x.ms / y.ms), "× faster", (x) => x >= 5);
  return rows;
}

/** A run of this engine, not of raw lmdb or a peer library. */
const isOurs = (r: RunRecord) => !r.case.startsWith("raw-") && r.case !== "merge-yjs" && r.case !== "merge-automerge";

function reopenRatio(d: RunData, big: number, small: number): Stat | undefined {
  const b = runsOf(d, "reopen", big);
  const s = runsOf(d, "reopen", small);
  const out: number[] = [];
  for (const x of b) {
    const y = s.find((r) => r.rep === x.rep);
    if (y) out.push(x.ms / y.ms);
  }
  return out.length > 0 ? stat(out) : undefined;
}

// ---------------------------------------------------------------- rendering

const num = (x: number, digits = 2) => {
  if (!Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  const d = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? Math.min(digits, 1) : digits;
  return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
};
const spread = (s: Stat | undefined, digits = 2) => (s === undefined ? "–" : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`);
const int = (x: number) => Math.round(x).toLocaleString("en-US");
const mib = (x: number) => (Number.isFinite(x) ? int(x) : "–");
const metText = (m: boolean | undefined) => (m === undefined ? "not measured" : m ? "met" : "**missed**");

export function targetTable(d: RunData): string {
  const lines = ["| target | measured at | median (min–max) | unit | |", "| --- | --- | ---: | --- | --- |"];
  for (const t of targets(d)) lines.push(`| ${t.target} | ${t.where} | ${spread(t.measured)} | ${t.unit} | ${metText(t.met)} |`);
  return lines.join("\n");
}

export function renderMarkdown(d: RunData, m: Machine, when: string): string {
  const c = d.config;
  const hist = summarizeHistory(d);
  const peers = summarizePeers(d);
  const lines: string[] = [
    `# Benchmark results (${when})`,
    "",
    `Machine: ${m.summary} (at the start of the run).`,
    `Settings: sizes ${c.sizes.map(k).join(", ")} events; peer sizes ${c.peerSizes.map(k).join(", ")} operations per device; ${c.reps} repetition(s); durable appends of ${c.durable} events; chunks of ${c.chunk}; importEvents per ${k(c.importChunk)} events; seed ${c.seed}${c.quick ? "; --quick (a smoke run: too small for its figures to mean much)" : ""}.`,
    `Whole run: ${int(d.totalSeconds)} s. Every figure is a median over repetitions with (min–max); ratios are computed per repetition from cases that ran next to each other. See bench/README.md for what each figure times.`,
    "",
    "## Targets",
    "",
    targetTable(d),
    "",
    "## Our engine against raw lmdb, per history size",
    "",
    "| operation | N | events timed | ours µs/event | raw µs/event | ours events/s | raw events/s | ours rate / raw rate | peak RSS while timed, ours / raw (MiB) | of ours: anonymous / mapped file (MiB) | whole-process peak RSS ours / raw (MiB) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const h of hist) {
    const op = OPERATIONS.find((o) => o.ours === h.operation)!;
    lines.push(
      `| ${op.label} (ceiling: ${op.ceiling}) | ${k(h.n)} | ${int(h.events)} | ${spread(h.oursUsPerEvent)} | ${spread(h.rawUsPerEvent)} | ${int(h.oursEventsPerSecond)} | ${int(h.rawEventsPerSecond)} | ${spread(h.rateVsRaw, 3)} | ${mib(h.oursPhaseMiB)} / ${mib(h.rawPhaseMiB)} | ${mib(h.oursAnonMiB)} / ${mib(h.oursFileMiB)} | ${int(h.oursMaxRssMiB)} / ${int(h.rawMaxRssMiB)} |`,
    );
  }
  lines.push("", "### On disk", "", "| N | our wallet after the batched append | raw lmdb, same events | ratio | our wallet after import (2N events) |", "| ---: | ---: | ---: | ---: | ---: |");
  for (const n of c.sizes) {
    const ours = runsOf(d, "append-batched", n);
    const raw = runsOf(d, "raw-batched", n);
    const imp = runsOf(d, "import", n);
    if (ours.length === 0 || raw.length === 0) continue;
    const ob = median(ours.map((r) => r.bytes!));
    const rb = median(raw.map((r) => r.bytes!));
    const ib = imp.length > 0 ? median(imp.map((r) => r.bytes!)) : NaN;
    lines.push(`| ${k(n)} | ${int(ob / n)} B/event (${num(ob / MiB, 1)} MiB) | ${int(rb / n)} B/event (${num(rb / MiB, 1)} MiB) | ${num(ob / rb)}× | ${int(ib / (2 * n))} B/event |`);
  }
  lines.push(
    "",
    "## 3-device merge: ours, Yjs, Automerge (same workload, same run)",
    "",
    "| N ops/device | system | full 3-way merge ms | their time / ours | encoded size of one merged replica | peak RSS while merging, MiB | whole-process peak RSS, MiB | untimed setup ms |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const p of peers) {
    const size = p.system === "ours" ? `${int(p.encodedBytes)} B (LMDB file)` : `${int(p.encodedBytes)} B`;
    lines.push(`| ${k(p.n)} | ${p.system} | ${spread(p.mergeMs, 1)} | ${p.slowerThanOurs ? `${spread(p.slowerThanOurs)}×` : "1"} | ${size} | ${spread(p.phaseMiB, 0)} | ${spread(p.maxRssMiB, 0)} | ${spread(p.setupMs, 0)} |`);
  }
  lines.push("", "Sizes of the merged 3-device history (3N events) beside our LMDB file:", "", "| N ops/device | our LMDB file per device | raw lmdb of the same events | shared log as gzip'd JSON | Yjs update | Automerge save |", "| ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const n of c.peerSizes) {
    const by = (s: string) => peers.find((p) => p.n === n && p.system === s);
    const o = by("ours");
    if (!o) continue;
    lines.push(`| ${k(n)} | ${int(o.encodedBytes)} B | ${int(o.rawLmdbBytes ?? NaN)} B | ${int(o.gzipJsonBytes ?? NaN)} B | ${int(by("Yjs")?.encodedBytes ?? NaN)} B | ${int(by("Automerge")?.encodedBytes ?? NaN)} B |`);
  }
  if ((d.failures ?? []).length > 0) {
    lines.push("", "## Failed cases (left out of every table above)", "");
    for (const f of d.failures) lines.push(`- ${f.case} at N = ${k(f.n)}: ${f.message}`);
  }
  lines.push("", "## Untimed preparation", "", "| N | step | seconds |", "| ---: | --- | ---: |");
  for (const p of d.prepare) lines.push(`| ${k(p.n)} | ${p.case} | ${num(p.ms / 1000, 1)} |`);
  lines.push("");
  return lines.join("\n");
}

const README_BEGIN = "<!-- targets:begin (generated by bench/report.ts from results/latest.json) -->";
const README_END = "<!-- targets:end -->";

/** Writes every output of a run; returns the paths written. */
export function writeResults(d: RunData, m: Machine = machine(), when = new Date().toISOString()): string[] {
  const json = join(BENCH, "results", "latest.json");
  const md = join(BENCH, "results", "latest.md");
  const svg = join(BENCH, "cost-vs-history.svg");
  const readme = join(BENCH, "README.md");
  writeFileSync(
    json,
    `${JSON.stringify({ when, machine: m, ...d, summary: { history: summarizeHistory(d), peers: summarizePeers(d), targets: targets(d) } }, null, 1)}\n`,
  );
  writeFileSync(md, renderMarkdown(d, m, when));
  writeFileSync(svg, costChart(summarizeHistory(d), OPERATIONS, `${when.slice(0, 10)}, ${m.cpus} CPU(s), ${d.config.reps} rep(s)`));
  const text = readFileSync(readme, "utf8");
  const a = text.indexOf(README_BEGIN);
  const b = text.indexOf(README_END);
  if (a === -1 || b < a) throw new Error(`${readme} lacks the target table markers`);
  const table = `${README_BEGIN}\nFrom the run of ${when} (${m.summary}; sizes ${d.config.sizes.map(k).join(", ")}, peer sizes ${d.config.peerSizes.map(k).join(", ")}, ${d.config.reps} rep(s)${d.config.quick ? ", --quick" : ""}):\n\n${targetTable(d)}\n`;
  writeFileSync(readme, text.slice(0, a) + table + text.slice(b));
  return [json, md, svg, readme];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const saved = JSON.parse(readFileSync(join(BENCH, "results", "latest.json"), "utf8")) as RunData & { when: string; machine: Machine };
  console.log(writeResults(saved, saved.machine, saved.when).join("\n"));
}

// Timing, memory and statistics. Every figure is the median of repetitions
// with its min and max; a ratio is computed per repetition (ours and its
// ceiling ran next to each other) and then summarized the same way.
import { readFileSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * Milliseconds taken by `fn`, a timed phase: its resident memory is measured
 * too (see phaseMemory). Untimed setup uses elapsedMs.
 */
export function timeMs(fn: () => void): number {
  beginPhase();
  const t0 = process.hrtime.bigint();
  try {
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    endPhase();
  }
}

export async function timeMsAsync(fn: () => Promise<unknown>): Promise<number> {
  beginPhase();
  const t0 = process.hrtime.bigint();
  try {
    await fn();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    endPhase();
  }
}

/** Milliseconds taken by untimed work (preparation, setup): no memory measured. */
export async function elapsedMs(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// ---------------------------------------------------------------- memory of the timed phases

/**
 * Resident memory while timed phases ran (Linux; zeros elsewhere):
 * `peakBytes` is the exact peak (VmHWM, reset when each phase begins);
 * `anonBytes` and `fileBytes` are the largest anonymous (JS heap, buffers,
 * lmdb's write buffers) and file-backed (pages of the LMDB map the process
 * touched: page cache the kernel can drop) parts, sampled every 10 ms.
 */
export interface PhaseMemory {
  peakBytes: number;
  anonBytes: number;
  fileBytes: number;
}

const KiB = 1024;
const statusOf = (): string | undefined => {
  try {
    return readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
};
const field = (status: string | undefined, name: string): number => {
  const m = status === undefined ? null : new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
  return m ? Number(m[1]) : 0;
};

// Shared with the sampler thread, in KiB: [sampling?, max anon, max file].
const shared = new Int32Array(new SharedArrayBuffer(3 * 4));
let sampler: Worker | undefined;
let phases = 0;
let phasePeakKiB = 0;
let lifetimePeakKiB = 0;

// Both threads raise the maxima: compare-and-swap, so a smaller value never overwrites a larger one.
const RAISE = `(s, i, v) => { for (;;) { const c = Atomics.load(s, i); if (v <= c || Atomics.compareExchange(s, i, c, v) === c) return; } }`;
const raise: (s: Int32Array, i: number, v: number) => void = new Function(`return ${RAISE}`)();

// A thread, so it samples while the main thread is inside a long synchronous transaction.
const SAMPLER = `
const { workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
const s = new Int32Array(workerData);
const raise = ${RAISE};
const kib = (t, name) => { const m = new RegExp("^" + name + ":\\\\s+(\\\\d+) kB", "m").exec(t); return m ? Number(m[1]) : 0; };
for (;;) {
  if (Atomics.load(s, 0) === 0) { Atomics.wait(s, 0, 0); continue; }
  const t = readFileSync("/proc/self/status", "utf8");
  raise(s, 1, kib(t, "RssAnon"));
  raise(s, 2, kib(t, "RssFile") + kib(t, "RssShmem"));
  Atomics.wait(s, 0, 1, 10);
}`;

/**
 * Starts the sampling thread (Linux; a no-op elsewhere) and waits until it
 * runs, so its own start-up is not counted in the first phase. Without it,
 * phases still get their exact peak, but no anonymous/file split.
 */
export async function startMemorySampler(): Promise<void> {
  if (sampler || statusOf() === undefined) return;
  const w = new Worker(SAMPLER, { eval: true, workerData: shared.buffer, execArgv: [] });
  sampler = w;
  await new Promise((resolve) => w.once("online", resolve));
  // Only now: an unreferenced thread lets the process end before it is online.
  w.unref();
}

function sampleHere(): void {
  const t = statusOf();
  raise(shared, 1, field(t, "RssAnon"));
  raise(shared, 2, field(t, "RssFile") + field(t, "RssShmem"));
}

function beginPhase(): void {
  const t = statusOf();
  if (t === undefined) return;
  lifetimePeakKiB = Math.max(lifetimePeakKiB, field(t, "VmHWM"));
  try {
    // "5" resets the peak RSS (VmHWM, and getrusage's maxrss) to the current RSS.
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // Without the reset the phase's peak is the process's peak so far: an overestimate, never an underestimate.
  }
  sampleHere();
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
}

function endPhase(): void {
  Atomics.store(shared, 0, 0);
  Atomics.notify(shared, 0);
  const t = statusOf();
  if (t === undefined) return;
  sampleHere();
  const hwm = field(t, "VmHWM");
  phases++;
  phasePeakKiB = Math.max(phasePeakKiB, hwm);
  lifetimePeakKiB = Math.max(lifetimePeakKiB, hwm);
}

/** Resident memory of every timed phase of this process so far; undefined where it cannot be read (no /proc). */
export function phaseMemory(): PhaseMemory | undefined {
  if (phases === 0) return undefined;
  // Without the sampler the split is unknown (0 reads as "not measured" in the report).
  return { peakBytes: phasePeakKiB * KiB, anonBytes: sampler ? Atomics.load(shared, 1) * KiB : NaN, fileBytes: sampler ? Atomics.load(shared, 2) * KiB : NaN };
}

/** A full collection before a timed phase, when node runs with --expose-gc. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Peak resident set size of this process so far, setup included, in bytes (Linux reports KiB). */
export function maxRssBytes(): number {
  // Each phase resets the kernel's peak: the peaks before the resets are kept here.
  return Math.max(lifetimePeakKiB, process.resourceUsage().maxRSS) * KiB;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function stat(samples: number[]): Stat {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples };
}

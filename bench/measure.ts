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
let phasePeakKiB = 0;
let lifetimePeakKiB = 0;

// A thread, so it samples while the main thread is inside a long synchronous transaction.
const SAMPLER = `
const { workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
const s = new Int32Array(workerData);
const kib = (t, name) => { const m = new RegExp("^" + name + ":\\\\s+(\\\\d+) kB", "m").exec(t); return m ? Number(m[1]) : 0; };
for (;;) {
  if (Atomics.load(s, 0) === 0) { Atomics.wait(s, 0, 0); continue; }
  const t = readFileSync("/proc/self/status", "utf8");
  const a = kib(t, "RssAnon"), f = kib(t, "RssFile") + kib(t, "RssShmem");
  if (a > Atomics.load(s, 1)) Atomics.store(s, 1, a);
  if (f > Atomics.load(s, 2)) Atomics.store(s, 2, f);
  Atomics.wait(s, 0, 1, 10);
}`;

function sampleHere(): void {
  const t = statusOf();
  const a = field(t, "RssAnon");
  const f = field(t, "RssFile") + field(t, "RssShmem");
  if (a > shared[1]) shared[1] = a;
  if (f > shared[2]) shared[2] = f;
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
  if (!sampler) {
    sampler = new Worker(SAMPLER, { eval: true, workerData: shared.buffer });
    sampler.unref();
  }
  sampleHere();
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
}

function endPhase(): void {
  if (!sampler) return;
  Atomics.store(shared, 0, 0);
  Atomics.notify(shared, 0);
  sampleHere();
  const hwm = field(statusOf(), "VmHWM");
  phasePeakKiB = Math.max(phasePeakKiB, hwm);
  lifetimePeakKiB = Math.max(lifetimePeakKiB, hwm);
}

/** Resident memory of every timed phase of this process so far. */
export function phaseMemory(): PhaseMemory {
  return { peakBytes: phasePeakKiB * KiB, anonBytes: Atomics.load(shared, 1) * KiB, fileBytes: Atomics.load(shared, 2) * KiB };
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

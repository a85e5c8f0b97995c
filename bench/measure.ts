// Timing and statistics. Every figure is the median of repetitions with its
// min and max; a ratio is computed per repetition (ours and its ceiling ran
// next to each other) and then summarized the same way.

/** Milliseconds taken by `fn` (high-resolution clock). */
export function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function timeMsAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A full collection before a timed phase, when node runs with --expose-gc. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Peak resident set size of this process so far, in bytes (Linux reports KiB). */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
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

// Timing on a noisy shared machine: every figure is the median of several
// repetitions, and each ratio compares medians taken in the same process run.

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

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Events per second for `count` events done in `ms`. */
export function perSecond(count: number, ms: number): number {
  return (count * 1000) / ms;
}

/** A measured rate: the median of per-repetition rates, and the samples behind it. */
export interface Rate {
  count: number;
  samplesMs: number[];
  medianMs: number;
  perSecond: number;
}

export function rateOf(count: number, samplesMs: number[]): Rate {
  const medianMs = median(samplesMs);
  return { count, samplesMs, medianMs, perSecond: perSecond(count, medianMs) };
}

/** Median latency in µs of `calls` invocations, after `warmup` untimed ones. */
export async function latencyUs(fn: () => unknown, calls: number, warmup = Math.min(20, calls)): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const us: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    us.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return median(us);
}

// Sizes and repetition counts, scaled from the environment so a quick run
// (BENCH_N=10000) and the default run share one code path.
function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export interface BenchConfig {
  /** Events per batched run and per history (BENCH_N, default 100k). */
  n: number;
  /** Repetitions of fast cases (BENCH_REPS, default 5); slow cases use at most 3. */
  reps: number;
  slowReps: number;
  /** Events for the one-fsync-per-event cases (BENCH_DURABLE_N, default 2,000): 100k fsyncs would take many minutes. */
  durableN: number;
  /** Batch size of the chunked append case. */
  chunk: number;
}

export function benchConfig(): BenchConfig {
  const n = envInt("BENCH_N", 100_000);
  const reps = envInt("BENCH_REPS", 5);
  return {
    n,
    reps,
    slowReps: Math.min(3, reps),
    durableN: Math.min(n, envInt("BENCH_DURABLE_N", 2_000)),
    chunk: Math.min(n, 1_000),
  };
}

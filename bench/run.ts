// Runs every benchmark in one process and prints one table (also written to
// bench/results/latest.md). Raw LMDB baselines are measured in the same run,
// interleaved with our cases, so ratios compare like with like on a noisy box.
//   npm run bench                       default: 100k events, 5 reps (3 for slow cases)
//   BENCH_N=10000 BENCH_REPS=3 npm run bench   a quick run
import { join } from "node:path";
import { appendToFreshStore } from "./append.ts";
import { measureAppendCosts } from "./append-costs.ts";
import { benchConfig } from "./config.ts";
import { eventMix } from "./event-mix.ts";
import { importOnce, prepareImport } from "./import.ts";
import { rateOf } from "./measure.ts";
import { measureQueries } from "./queries.ts";
import { meanStoredBytes, rawBatchedPut, rawMdbFile, rawSinglePut, rawValues } from "./raw-lmdb.ts";
import { machineInfo, renderReport, writeLatest } from "./report.ts";
import { openWorkspace } from "./workspace.ts";

const log = (s: string) => console.log(`[bench ${(performance.now() / 1000).toFixed(0).padStart(4)} s] ${s}`);

async function main() {
  const config = benchConfig();
  const { n, reps, slowReps, durableN, chunk } = config;
  const ws = openWorkspace();
  log(`${machineInfo()}; N=${n}, reps=${reps}/${slowReps}, durable N=${durableN}`);
  try {
    log("building histories (untimed)");
    const raw = rawValues(n);
    const drafts = eventMix("append", n);
    const durableDrafts = eventMix("durable", durableN);

    // Batched: raw and ours interleaved, so drift of the shared machine hits both.
    const rawBatched: number[] = [];
    const oursBatched: number[] = [];
    const oursChunked: number[] = [];
    let rawDir = "";
    for (let r = 0; r < Math.max(reps, slowReps); r++) {
      if (r < reps) {
        rawDir = ws.fresh("raw-batched");
        rawBatched.push(await rawBatchedPut(rawDir, raw));
      }
      if (r < slowReps) {
        oursBatched.push(await appendToFreshStore(ws.fresh("append-batched"), "BENCHDEVICE", drafts, n));
        oursChunked.push(await appendToFreshStore(ws.fresh("append-chunked"), "BENCHDEVICE", drafts, chunk));
      }
      const ours = r < slowReps ? `, ours ${oursBatched[r].toFixed(0)} ms, chunked ${oursChunked[r].toFixed(0)} ms` : "";
      log(`batched rep ${r + 1}: raw ${rawBatched[r]?.toFixed(0)} ms${ours}`);
    }
    const rawValueBytes = await meanStoredBytes(rawMdbFile(rawDir), "events");

    // One fsynced transaction per event.
    const rawSingle: number[] = [];
    const oursSingle: number[] = [];
    for (let r = 0; r < slowReps; r++) {
      rawSingle.push(await rawSinglePut(ws.fresh("raw-single"), raw.slice(0, durableN)));
      oursSingle.push(await appendToFreshStore(ws.fresh("append-single"), "BENCHDEVICE", durableDrafts, 1));
      log(`durable rep ${r + 1}: raw ${rawSingle.at(-1)!.toFixed(0)} ms, ours ${oursSingle.at(-1)!.toFixed(0)} ms`);
    }

    log("append cost breakdown");
    const costs = await measureAppendCosts(ws, drafts, slowReps);

    log("import: building the local and remote histories (untimed)");
    const fx = await prepareImport(ws, n);
    const eventBytes = await meanStoredBytes(join(fx.localTemplate, "wallet.mdb"), "events", n);
    const imports: number[] = [];
    for (let r = 0; r < slowReps; r++) {
      imports.push(await importOnce(ws, fx));
      log(`import rep ${r + 1}: ${imports.at(-1)!.toFixed(0)} ms`);
    }

    log("queries and reopen");
    const queries = await measureQueries(ws, fx.localTemplate, reps);

    const markdown = renderReport(
      {
        config,
        rawBatched: rateOf(n, rawBatched),
        rawSingle: rateOf(durableN, rawSingle),
        oursBatched: rateOf(n, oursBatched),
        oursChunked: rateOf(n, oursChunked),
        oursSingle: rateOf(durableN, oursSingle),
        import: rateOf(n, imports),
        costs,
        queries,
        rawValueBytes,
        eventBytes,
        totalSeconds: performance.now() / 1000,
      },
      new Date(),
    );
    console.log(`\n${markdown}`);
    log(`written to ${writeLatest(markdown)}`);
  } finally {
    ws.remove();
  }
}

await main();

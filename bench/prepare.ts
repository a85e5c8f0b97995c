// Builds, once per history size and outside any timing, the inputs every
// case of that size reads:
//
//   own/drafts.jsonl        N drafts of one device (LOCAL_DEVICE), no merges
//   own/tail-drafts.jsonl   the next `tail` drafts of that same history (durable appends)
//   own/events.jsonl        those N drafts as our engine stamped them; own/tail-events.jsonl likewise
//   own/wallet/             a closed wallet holding the N events
//   own/raw/                raw lmdb holding the same N events
//   multi/events.jsonl      N events of three other devices that merged now and then, causal order
//   multi/wallet/           a closed wallet of device 0 holding all N
//   multi/raw/              raw lmdb holding the same N events
import { cpSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readChunks, rechunk, writeChunks } from "./chunk-file.ts";
import { openAppender, openBenchWallet, type Appender, type SharedDraft, type WalletEvent } from "./engine.ts";
import { generateHistory, type HistoryStep } from "./history.ts";
import { rawBatchedPut } from "./raw.ts";

export const LOCAL_DEVICE = "benchLocal";
export const MULTI_DEVICES = ["devX", "devY", "devZ"];
/** Events per line of the history files. */
const LINE = 1_000;

export const ownPaths = (dir: string) => ({
  drafts: join(dir, "own", "drafts.jsonl"),
  tailDrafts: join(dir, "own", "tail-drafts.jsonl"),
  events: join(dir, "own", "events.jsonl"),
  tailEvents: join(dir, "own", "tail-events.jsonl"),
  wallet: join(dir, "own", "wallet"),
  raw: join(dir, "own", "raw"),
});

export const multiPaths = (dir: string) => ({
  events: join(dir, "multi", "events.jsonl"),
  wallet: join(dir, "multi", "wallet"),
  raw: join(dir, "multi", "raw"),
});

function* appendedDrafts(steps: Iterable<HistoryStep>): Generator<SharedDraft[]> {
  for (const s of steps) if (s.kind === "append") yield s.drafts;
}

function* sliceItems<T>(chunks: Iterable<T[]>, from: number, to: number): Generator<T[]> {
  let at = 0;
  for (const chunk of chunks) {
    const lo = Math.max(from - at, 0);
    const hi = Math.min(to - at, chunk.length);
    if (lo < hi) yield chunk.slice(lo, hi);
    at += chunk.length;
    if (at >= to) return;
  }
}

async function writeEvents(path: string, events: WalletEvent[]): Promise<void> {
  writeChunks(path, rechunk([events], LINE));
}

/** The single-device history of `n` events, plus `tail` more for the durable case. */
export async function prepareOwn(dir: string, seed: number, n: number, tail: number): Promise<void> {
  const p = ownPaths(dir);
  mkdirSync(join(dir, "own"), { recursive: true });
  const history = () => appendedDrafts(generateHistory({ seed, devices: [LOCAL_DEVICE], events: n + tail, maxBurst: LINE }));
  writeChunks(p.drafts, sliceItems(history(), 0, n));
  writeChunks(p.tailDrafts, sliceItems(history(), n, n + tail));

  const a = await openAppender(p.wallet, LOCAL_DEVICE);
  for (const drafts of readChunks<SharedDraft>(p.drafts)) a.appendTransaction(drafts);
  await a.close();
  let w = await openBenchWallet(p.wallet);
  await writeEvents(p.events, await w.exportEvents());
  await w.close();

  // The tail, stamped on a scratch copy so the template keeps exactly n events.
  const scratch = join(dir, "own", "scratch");
  cpSync(p.wallet, scratch, { recursive: true });
  const b = await openAppender(scratch, LOCAL_DEVICE);
  for (const drafts of readChunks<SharedDraft>(p.tailDrafts)) b.appendTransaction(drafts);
  await b.close();
  w = await openBenchWallet(scratch);
  await writeEvents(p.tailEvents, await w.exportEvents({ [LOCAL_DEVICE]: n }));
  await w.close();
  rmSync(scratch, { recursive: true, force: true });

  mkdirSync(p.raw);
  await rawBatchedPut(p.raw, readChunks<WalletEvent>(p.events));
}

/** Replays the 3-device history on real wallets: own drafts appended, merges as export → import. */
export async function prepareMulti(dir: string, seed: number, n: number): Promise<void> {
  const p = multiPaths(dir);
  const root = join(dir, "multi");
  mkdirSync(root, { recursive: true });
  const paths = MULTI_DEVICES.map((d) => join(root, d));
  const devices: Appender[] = await Promise.all(MULTI_DEVICES.map((d, i) => openAppender(paths[i], d)));
  try {
    for (const step of generateHistory({ seed, devices: MULTI_DEVICES, events: n, maxBurst: 500 })) {
      if (step.kind === "append") {
        devices[step.device].appendTransaction(step.drafts);
      } else {
        const events = devices[step.from].exportEvents(devices[step.to].vectorClock());
        const r = devices[step.to].importEvents(events);
        if (r.added !== events.length) throw new Error(`merge ${step.from} → ${step.to} added ${r.added} of ${events.length}`);
      }
    }
  } finally {
    for (const a of devices) await a.close();
  }
  const w = await openBenchWallet(paths[0], MULTI_DEVICES[0]);
  const all = await w.exportEvents();
  await w.close();
  if (all.length !== n) throw new Error(`the merged history holds ${all.length} events, expected ${n}`);
  await writeEvents(p.events, all);
  renameSync(paths[0], p.wallet);
  for (const path of paths.slice(1)) rmSync(path, { recursive: true, force: true });
  mkdirSync(p.raw);
  await rawBatchedPut(p.raw, readChunks<WalletEvent>(p.events));
}

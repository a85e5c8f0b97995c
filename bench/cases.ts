// Every timed case, ours and its raw lmdb ceiling. A case runs alone in a
// child process (case.ts) on inputs that prepare.ts wrote; copying a template
// and opening stores happens before the clock starts, and the time spent
// reading history files inside a timed transaction is subtracted.
import { cpSync, mkdirSync } from "node:fs";
import { readAll, readChunks, rechunk, type ReadClock } from "./chunk-file.ts";
import { openAppender, openBenchWallet, storeBytes, type SharedDraft, type WalletEvent } from "./engine.ts";
import { collectGarbage, elapsedMs, timeMs, timeMsAsync } from "./measure.ts";
import { automergeMerge, oursMerge, yjsMerge, type PeerResult } from "./peers.ts";
import { LOCAL_DEVICE, multiPaths, ownPaths, prepareMulti, prepareOwn } from "./prepare.ts";
import { rawBatchedPut, rawChunkedPut, rawDirBytes, rawPutSync, rawReopen, rawScan, rawTxnPerPut } from "./raw.ts";

export interface CaseArgs {
  /** Directory of this history size's prepared inputs. */
  data: string;
  /** A fresh path this run may create and fill. */
  scratch: string;
  seed: number;
  /** History size (events), or operations per device for the peer cases. */
  n: number;
  /** Events per transaction of the chunked cases; events per importEvents call. */
  chunk: number;
  importChunk: number;
  /** Events appended after the history by the durable cases. */
  tail: number;
}

export interface CaseResult {
  /** Timed milliseconds. */
  ms: number;
  /** Events the timed phase processed. */
  events: number;
  /** Bytes on disk of the store the case produced, where that is a figure. */
  bytes?: number;
  peer?: PeerResult;
}

/** `ms` of a timed phase minus the file reading that happened inside it. */
function net(ms: number, clock: ReadClock, before: number): number {
  return ms - (clock.ms - before);
}

function fresh(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

function copyOf(template: string, path: string): string {
  cpSync(template, path, { recursive: true });
  return path;
}

async function importFile(path: string, file: string, chunk: number) {
  const w = await openBenchWallet(path);
  let ms = 0;
  let added = 0;
  let known = 0;
  try {
    for (const events of rechunk(readChunks<WalletEvent>(file), chunk)) {
      collectGarbage();
      ms += await timeMsAsync(async () => {
        const r = await w.importEvents(events);
        added += r.added;
        known += r.known;
      });
    }
  } finally {
    await w.close();
  }
  return { ms, added, known };
}

export const CASES: Record<string, (a: CaseArgs) => Promise<CaseResult>> = {
  async "prepare-own"(a) {
    const ms = await elapsedMs(() => prepareOwn(a.data, a.seed, a.n, a.tail));
    return { ms, events: a.n };
  },
  async "prepare-multi"(a) {
    const ms = await elapsedMs(() => prepareMulti(a.data, a.seed, a.n));
    return { ms, events: a.n };
  },

  // ---------------------------------------------------------------- append
  async "append-batched"(a) {
    const app = await openAppender(a.scratch, LOCAL_DEVICE);
    const clock: ReadClock = { ms: 0 };
    collectGarbage();
    const ms = timeMs(() => app.appendInOneTransaction(readChunks<SharedDraft>(ownPaths(a.data).drafts, clock)));
    const events = app.eventCount();
    await app.close();
    return { ms: net(ms, clock, 0), events, bytes: storeBytes(a.scratch) };
  },
  async "raw-batched"(a) {
    const clock: ReadClock = { ms: 0 };
    collectGarbage();
    const ms = await rawBatchedPut(fresh(a.scratch), readChunks<WalletEvent>(ownPaths(a.data).events, clock));
    return { ms: net(ms, clock, 0), events: a.n, bytes: rawDirBytes(a.scratch) };
  },
  async "append-chunked"(a) {
    const app = await openAppender(a.scratch, LOCAL_DEVICE);
    const clock: ReadClock = { ms: 0 };
    collectGarbage();
    const ms = timeMs(() => {
      for (const drafts of rechunk(readChunks<SharedDraft>(ownPaths(a.data).drafts, clock), a.chunk)) app.appendTransaction(drafts);
    });
    const events = app.eventCount();
    await app.close();
    return { ms: net(ms, clock, 0), events };
  },
  async "raw-chunked"(a) {
    const clock: ReadClock = { ms: 0 };
    collectGarbage();
    const ms = await rawChunkedPut(fresh(a.scratch), rechunk(readChunks<WalletEvent>(ownPaths(a.data).events, clock), a.chunk));
    return { ms: net(ms, clock, 0), events: a.n };
  },
  async "append-durable"(a) {
    const p = ownPaths(a.data);
    const drafts = readAll<SharedDraft>(p.tailDrafts);
    const app = await openAppender(copyOf(p.wallet, a.scratch), LOCAL_DEVICE);
    collectGarbage();
    const ms = timeMs(() => {
      for (const d of drafts) app.appendTransaction([d]);
    });
    await app.close();
    return { ms, events: drafts.length };
  },
  async "raw-durable-txn"(a) {
    const p = ownPaths(a.data);
    const events = readAll<WalletEvent>(p.tailEvents);
    collectGarbage();
    return { ms: await rawTxnPerPut(copyOf(p.raw, a.scratch), events), events: events.length };
  },
  async "raw-durable-putsync"(a) {
    const p = ownPaths(a.data);
    const events = readAll<WalletEvent>(p.tailEvents);
    collectGarbage();
    return { ms: await rawPutSync(copyOf(p.raw, a.scratch), events), events: events.length };
  },

  // ---------------------------------------------------------------- import
  async import(a) {
    const r = await importFile(copyOf(ownPaths(a.data).wallet, a.scratch), multiPaths(a.data).events, a.importChunk);
    if (r.added !== a.n) throw new Error(`import added ${r.added} of ${a.n} events`);
    return { ms: r.ms, events: r.added, bytes: storeBytes(a.scratch) };
  },
  async "raw-import"(a) {
    const clock: ReadClock = { ms: 0 };
    const dir = copyOf(ownPaths(a.data).raw, a.scratch);
    collectGarbage();
    const ms = await rawBatchedPut(dir, readChunks<WalletEvent>(multiPaths(a.data).events, clock));
    return { ms: net(ms, clock, 0), events: a.n };
  },
  async reimport(a) {
    const r = await importFile(copyOf(multiPaths(a.data).wallet, a.scratch), multiPaths(a.data).events, a.importChunk);
    if (r.added !== 0 || r.known !== a.n) throw new Error(`re-import added ${r.added} and knew ${r.known} of ${a.n} events`);
    return { ms: r.ms, events: r.known };
  },
  async "raw-reimport"(a) {
    const clock: ReadClock = { ms: 0 };
    const dir = copyOf(multiPaths(a.data).raw, a.scratch);
    collectGarbage();
    const ms = await rawBatchedPut(dir, readChunks<WalletEvent>(multiPaths(a.data).events, clock));
    return { ms: net(ms, clock, 0), events: a.n };
  },

  // ---------------------------------------------------------------- rebuild and reopen
  async rebuild(a) {
    const w = await openBenchWallet(copyOf(multiPaths(a.data).wallet, a.scratch));
    try {
      const before = JSON.stringify(await w.getBalances());
      collectGarbage();
      const ms = await timeMsAsync(() => w.rebuild());
      const after = JSON.stringify(await w.getBalances());
      if (after !== before) throw new Error(`balances changed across rebuild: ${before} vs ${after}`);
      return { ms, events: a.n, bytes: storeBytes(a.scratch) };
    } finally {
      await w.close();
    }
  },
  async "raw-scan"(a) {
    collectGarbage();
    const r = await rawScan(multiPaths(a.data).raw);
    if (r.events !== a.n) throw new Error(`raw scan read ${r.events} of ${a.n} events`);
    return { ms: r.ms, events: r.events };
  },
  async reopen(a) {
    const path = copyOf(multiPaths(a.data).wallet, a.scratch);
    collectGarbage();
    let close = async () => {};
    let balances = 0;
    const ms = await timeMsAsync(async () => {
      const w = await openBenchWallet(path);
      close = () => w.close();
      balances = (await w.getBalances()).length;
    });
    await close();
    if (balances === 0) throw new Error("the reopened wallet has no balance");
    return { ms, events: a.n };
  },
  async "raw-reopen"(a) {
    collectGarbage();
    return { ms: await rawReopen(multiPaths(a.data).raw), events: a.n };
  },

  // ---------------------------------------------------------------- peers
  async "merge-ours"(a) {
    const peer = await oursMerge(fresh(a.scratch), a.seed, a.n);
    return { ms: peer.mergeMs, events: 3 * a.n, peer };
  },
  async "merge-yjs"(a) {
    const peer = await yjsMerge(a.seed, a.n);
    return { ms: peer.mergeMs, events: 3 * a.n, peer };
  },
  async "merge-automerge"(a) {
    const peer = await automergeMerge(a.seed, a.n);
    return { ms: peer.mergeMs, events: 3 * a.n, peer };
  },
};

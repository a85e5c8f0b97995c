// The one place the benchmarks touch the engine. The store and its record
// layout are being redesigned: when they change, this file is what has to
// follow, and every case keeps measuring the same operations.
//
// Own appends go through the store (`openStore(...).write(tx => tx.appendOwn)`),
// everything else through the public wallet API. A directory is opened by one
// of the two at a time, never both.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SharedDraft } from "../src/events/catalogue.ts";
import { openStore } from "../src/events/store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { canonicalJson, openWallet, type Balance, type VectorClock, type WalletEvent } from "../src/index.ts";
import { PROJECTIONS } from "../src/projections/index.ts";

export type { KeysFactsData, SharedDraft } from "../src/events/catalogue.ts";
export type { Balance, VectorClock, WalletEvent } from "../src/index.ts";
export { canonicalJson, encodeCrock, formatAmount, sha512 } from "../src/index.ts";
export { mapReserve } from "../src/events/map-reserve.ts";

const LOCAL_TABLES = new Set(PROJECTIONS.flatMap((p) => Object.entries(p.tables).filter(([, c]) => c.local === true).map(([name]) => name)));

/** Author time stamped on every benchmark event, so histories are byte-identical run to run. */
export const EVENT_TIME = 1_700_000_000_000;

/** The projections `openWallet` folds: an appender must keep the same records, or reopening would miss them. */

/** Appends events authored by this device, straight into the store. */
export interface Appender {
  /** All chunks in ONE write transaction (the iterable is consumed inside it). */
  appendInOneTransaction(chunks: Iterable<SharedDraft[]>): void;
  /** One write transaction (one commit, one fsync) for `drafts`. */
  appendTransaction(drafts: SharedDraft[]): void;
  eventCount(): number;
  /**
   * Merging without leaving the store, for the untimed replay of multi-device
   * histories: the same functions the wallet's exportEvents/importEvents call.
   * (Closing a store and reopening it as a wallet hundreds of times tripped the
   * store's damaged-file check at 100k events: see the issue note.)
   */
  vectorClock(): VectorClock;
  exportEvents(since: VectorClock): WalletEvent[];
  importEvents(events: WalletEvent[]): { added: number; known: number };
  close(): Promise<void>;
}

export async function openAppender(path: string, deviceId: string): Promise<Appender> {
  const store = await openStore({ path, deviceId, projections: PROJECTIONS });
  return {
    appendInOneTransaction(chunks) {
      store.write((tx) => {
        for (const drafts of chunks) tx.appendOwn(drafts, EVENT_TIME);
      });
    },
    appendTransaction(drafts) {
      store.write((tx) => tx.appendOwn(drafts, EVENT_TIME));
    },
    eventCount: () => store.eventCount(),
    vectorClock: () => store.clock(),
    exportEvents: (since) => exportFrom(store, since) as WalletEvent[],
    importEvents: (events) => store.write((tx) => importInto(tx, events)),
    close: () => store.close(),
  };
}

/** The wallet operations the cases time, through the public API. */
export interface BenchWallet {
  vectorClock(): Promise<VectorClock>;
  /** Shared events not covered by `since` (all of them without it), in a causal order; the first `limit` of them. */
  exportEvents(since?: VectorClock, limit?: number): Promise<WalletEvent[]>;
  importEvents(events: WalletEvent[]): Promise<{ added: number; known: number }>;
  rebuild(): Promise<void>;
  getBalances(): Promise<Balance[]>;
  /** Canonical JSON of every projection record that all replicas share (device-local records left out). */
  sharedState(): Promise<string>;
  close(): Promise<void>;
}

export async function openBenchWallet(path: string, deviceId?: string): Promise<BenchWallet> {
  const w = await openWallet({ path, deviceId, now: () => EVENT_TIME });
  return {
    vectorClock: () => w.getVectorClock(),
    exportEvents: (since, limit) => w.exportEvents(since || limit ? { since, limit } : undefined),
    importEvents: (events) => w.importEvents(events),
    rebuild: () => w.rebuild(),
    getBalances: async () => (await w.getBalances()).balances,
    async sharedState() {
      // Tables folded from device-local events (update attempts, backup providers, …) are never shared.
      const records = (await w.dumpProjections()).filter((r) => !LOCAL_TABLES.has(r.key[0] as string));
      return canonicalJson(records);
    },
    close: () => w.close(),
  };
}

/** Bytes on disk of the store in `dir` (every data file; LMDB's lock file left out). */
export function storeBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith("-lock")) continue;
    const st = statSync(join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}

// The ceiling: plain `lmdb` (default msgpack encoding, opened as our store
// opens its file) putting the very same event objects keyed by [device, seq].
// No validation, hashing, chaining or projections: what any store built on
// lmdb-js pays at least for the same bytes.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { mapReserve, type WalletEvent } from "./engine.ts";
import { timeMs } from "./measure.ts";

function openRaw(dir: string, readOnly = false): { root: RootDatabase; db: Database } {
  // The map reserved as our store reserves it (map-reserve.ts): one map, not one per doubling.
  const mapSize = mapReserve();
  const root = open({ path: join(dir, "raw.mdb"), overlappingSync: false, maxDbs: 12, readOnly, ...(mapSize ? { mapSize } : {}) });
  return { root, db: root.openDB({ name: "events" }) };
}

const keyOf = (e: WalletEvent) => [e.device, e.seq];

/** All events in ONE transactionSync (one commit, one fsync). Returns ms, reading included (see chunk-file.ts). */
export async function rawBatchedPut(dir: string, chunks: Iterable<WalletEvent[]>): Promise<number> {
  const { root, db } = openRaw(dir);
  const ms = timeMs(() => {
    root.transactionSync(() => {
      for (const chunk of chunks) for (const e of chunk) db.put(keyOf(e), e);
    });
  });
  await root.close();
  return ms;
}

/** One transactionSync per chunk. */
export async function rawChunkedPut(dir: string, chunks: Iterable<WalletEvent[]>): Promise<number> {
  const { root, db } = openRaw(dir);
  const ms = timeMs(() => {
    for (const chunk of chunks) {
      root.transactionSync(() => {
        for (const e of chunk) db.put(keyOf(e), e);
      });
    }
  });
  await root.close();
  return ms;
}

/** One committed, fsynced transactionSync per event. */
export async function rawTxnPerPut(dir: string, events: WalletEvent[]): Promise<number> {
  const { root, db } = openRaw(dir);
  const ms = timeMs(() => {
    for (const e of events) {
      // A block body: a callback returning put's promise would make the transaction wait on itself.
      root.transactionSync(() => {
        db.put(keyOf(e), e);
      });
    }
  });
  await root.close();
  return ms;
}

/** putSync per event: lmdb-js's own durable single write. */
export async function rawPutSync(dir: string, events: WalletEvent[]): Promise<number> {
  const { root, db } = openRaw(dir);
  const ms = timeMs(() => {
    for (const e of events) db.putSync(keyOf(e), e);
  });
  await root.close();
  return ms;
}

/** Reads and decodes every event once, in key order: the least a rebuild must do. */
export async function rawScan(dir: string): Promise<{ ms: number; events: number }> {
  const { root, db } = openRaw(dir, true);
  let events = 0;
  const ms = timeMs(() => {
    for (const { value } of db.getRange({})) if (value !== undefined) events++;
  });
  await root.close();
  return { ms, events };
}

/** Opens the environment and reads one event: the floor of "reopen + first query". */
export async function rawReopen(dir: string): Promise<number> {
  let root: RootDatabase | undefined;
  const ms = timeMs(() => {
    const r = openRaw(dir, true);
    root = r.root;
    for (const { value } of r.db.getRange({ limit: 1 })) if (value === undefined) throw new Error("empty raw store");
  });
  await root!.close();
  return ms;
}

/** Bytes on disk of a raw store (lock file left out). */
export function rawDirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) if (!name.endsWith("-lock")) total += statSync(join(dir, name)).size;
  return total;
}

// The compaction snapshot inside a backup: the shared records folded from the
// events at or below a frontier, stored like the log's payloads (columns per
// path, strings through the content's string table, so a coin key a snapshot
// record names is written once in the whole backup).
//
//   snapshot: { frontier: {device: seq},
//               heads: {device: {hash, lamport}},       the chain head at the frontier, which the tail continues
//               tables: [{ table: "coin", count: n, rows: [column entries] }, …] }
//
// A row is the record's key without its table name, then its JSON form:
// ["COINKEY…", [url, currency, …]]. Tables come in key order, rows in key
// order within them, so decoding gives the records sorted as the store keeps them.
// Arrays are positional up to SNAPSHOT_POSITIONS (json-columns.ts): a record's
// tuple fields each get a column, where gzip finds their regularities.
import { isDeviceId, normalizeClock, type VectorClock } from "../events/clock.ts";
import { isKeySafeText } from "../events/records.ts";
import type { Key } from "../events/records.ts";
import type { Snapshot } from "../events/store.ts";
import { WalletError } from "../errors.ts";
import { checkArray, createColumnDecoder, createColumnEncoder, MAX_COLUMN_LENGTH, type PathEntry } from "./json-columns.ts";
import type { StringTable } from "./string-table.ts";

/** Item positions with a column of their own in snapshot rows (part of the format). */
export const SNAPSHOT_POSITIONS = 16;

export interface EncodedSnapshot {
  frontier: VectorClock;
  heads: Record<string, { hash: string; lamport: number }>;
  tables: { table: string; count: number; rows: PathEntry[] }[];
}

export function encodeSnapshot(snap: Snapshot, strings: StringTable): EncodedSnapshot {
  const tables: { table: string; count: number; encoder: ReturnType<typeof createColumnEncoder> }[] = [];
  for (const r of snap.records) {
    const name = r.key[0] as string;
    let t = tables[tables.length - 1];
    if (!t || t.table !== name) tables.push((t = { table: name, count: 0, encoder: createColumnEncoder({ positions: SNAPSHOT_POSITIONS }) }));
    t.encoder.add([...r.key.slice(1), r.json]);
    t.count++;
  }
  return {
    frontier: normalizeClock(snap.frontier),
    heads: snap.heads,
    tables: tables.map((t) => ({ table: t.table, count: t.count, rows: t.encoder.finish(strings) })),
  };
}

const invalid = (why: string) => new WalletError("backup-content-invalid", `the backup's snapshot is malformed: ${why}`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The records of an encoded snapshot (its frontier and heads are read by the caller); bounded by its columns. */
export function decodeSnapshotRecords(raw: unknown, strings: readonly string[]): { key: Key; json: unknown }[] {
  if (!isPlainObject(raw)) throw invalid("not an object");
  const tables = checkArray(raw.tables, "snapshot.tables");
  const out: { key: Key; json: unknown }[] = [];
  for (let i = 0; i < tables.length; i++) {
    const t = tables[i];
    if (!isPlainObject(t) || typeof t.table !== "string" || typeof t.count !== "number" || !Number.isSafeInteger(t.count) || t.count < 0 || t.count > MAX_COLUMN_LENGTH) {
      throw invalid(`tables[${i}] is not {table, count, rows}`);
    }
    const dec = createColumnDecoder(t.rows, strings, `snapshot.tables[${i}].rows`, { positions: SNAPSHOT_POSITIONS });
    const cursor = dec.start();
    for (let n = 0; n < t.count; n++) {
      const row = dec.read(cursor);
      if (!Array.isArray(row) || row.length < 2) throw invalid(`tables[${i}] row ${n} is not [key part …, record]`);
      const parts = row.slice(0, -1);
      if (!parts.every((p) => (typeof p === "string" && isKeySafeText(p)) || (typeof p === "number" && Number.isSafeInteger(p)))) {
        throw invalid(`tables[${i}] row ${n} has a key part that is not an integer or a string a store key can hold`);
      }
      out.push({ key: [t.table, ...(parts as (string | number)[])], json: row[row.length - 1] });
    }
    dec.checkConsumed(cursor);
  }
  return out;
}

/** The frontier and heads of an encoded snapshot, checked for shape. */
export function snapshotFrame(raw: unknown): { frontier: VectorClock; heads: Record<string, { hash: string; lamport: number }> } {
  if (!isPlainObject(raw)) throw invalid("not an object");
  const f = raw.frontier;
  if (!isPlainObject(f)) throw invalid("frontier is not a vector clock");
  const frontier: VectorClock = {};
  for (const d of Object.keys(f)) {
    const s = f[d];
    if (!isDeviceId(d) || typeof s !== "number" || !Number.isSafeInteger(s) || s < 1) throw invalid(`frontier.${d} is not a positive seq of a device`);
    frontier[d] = s;
  }
  const h = raw.heads;
  if (!isPlainObject(h)) throw invalid("heads is not an object");
  const heads: Record<string, { hash: string; lamport: number }> = {};
  for (const d of Object.keys(h)) {
    const x = h[d];
    if (!isDeviceId(d) || !isPlainObject(x) || typeof x.hash !== "string" || typeof x.lamport !== "number" || !Number.isSafeInteger(x.lamport) || x.lamport < 1) {
      throw invalid(`heads.${d} is not {hash, lamport}`);
    }
    heads[d] = { hash: x.hash, lamport: x.lamport };
  }
  return { frontier: normalizeClock(frontier), heads };
}

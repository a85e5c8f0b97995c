// Projection records: the keyed state reducers fold events into. The store
// keeps them in LMDB; decider specs and tests keep them in memory. Reducers
// and deciders see only this interface, never the store behind it.
//
// A record is a live object: a reducer may change it in place and put it
// back. Inside a write transaction every get of one key returns the same
// object until the transaction ends; outside one, each get is a fresh copy.
import type { LocalEvent, SharedEvent } from "./envelope.ts";
import type { Schema } from "./schema.ts";

export type Key = (string | number)[];

// lmdb's key encoding (ordered-binary) escapes bytes 0x00-0x04 and keeps lone surrogates in a string
// key part shorter than 64 UTF-16 units, but writes a longer one as raw UTF-8: there bytes 0x00-0x04
// read back as a separator or an escape, and a lone surrogate becomes U+FFFD, so two ids would share
// one key. NUL is refused at any length: keyId joins a key's parts with it.
const MAYBE_UNSAFE = /[\u0000-\u0004\uD800-\uDFFF]/;
const KEY_UNSAFE = /[\u0000-\u0004]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const RAW_KEY_PART_UNITS = 64;

/** Whether a string round-trips as a part of a record key (see above). */
export function isKeySafeText(s: string): boolean {
  if (s.length < RAW_KEY_PART_UNITS) return !s.includes("\u0000");
  return !MAYBE_UNSAFE.test(s) || !KEY_UNSAFE.test(s);
}

/** Keyed access to projection records, inside a write transaction or for reading. */
export interface Records {
  get<T>(key: Key): T | undefined;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  /** Entries whose key starts with `prefix` (followed by further parts), in key order. */
  entries<T>(prefix: Key): Iterable<{ key: Key; value: T }>;
}

/** One record a transaction changed: its value before and after (undefined = absent). */
export interface RecordChange {
  key: Key;
  before: unknown;
  after: unknown;
}

/** How the records of one table (the first part of their keys) are kept: as plain JSON. */
export interface RecordCodec<V> {
  encode(v: V): unknown;
  decode(json: unknown, key: Key): V;
  /** Device-local records (folded from local events): never part of a snapshot. */
  local?: true;
  /**
   * Records kept only in the base (a snapshot): facts the log holds for the
   * events above the base, kept for those folded into it (a coin's secrets).
   */
  baseOnly?: true;
  /**
   * The stored form's shape, checked on records that arrive from outside (a
   * snapshot in a backup): the codecs trust what this wallet wrote itself, so
   * a malformed foreign record would only fail later, on every read.
   * Required of every table that is not `local`.
   */
  shape?: Schema<unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RecordTables = Record<string, RecordCodec<any>>;

/** A projection folds events into records. Both folds must be deterministic functions of their input. */
export interface Projection {
  readonly name: string;
  /** The tables it owns, by the first part of their keys. */
  readonly tables: RecordTables;
  evolveShared?(records: Records, e: SharedEvent): void;
  evolveLocal?(records: Records, e: LocalEvent): void;
  /** Folding into the base only: keeps what the base must hold besides the projections (baseOnly tables). */
  evolveBase?(records: Records, e: SharedEvent): void;
}

/** Every table of the given projections; a table owned twice is a programming error. */
export function tablesOf(projections: readonly Projection[]): RecordTables {
  const out: RecordTables = Object.create(null);
  for (const p of projections) {
    for (const [name, codec] of Object.entries(p.tables)) {
      if (name in out) throw new Error(`record table ${name} is owned by two projections`);
      out[name] = codec;
    }
  }
  return out;
}

/** Key order of the store: part by part, numbers before strings, strings by code point as LMDB orders them. */
export function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
    return typeof x === "number" ? (x < (y as number) ? -1 : 1) : compareText(x, y as string);
  }
  return a.length - b.length;
}

// lmdb writes a key's string as UTF-8 (a lone surrogate as its own three bytes), so its order is
// code point order. JS's `<` compares UTF-16 units, which puts a pair (U+10000 and up) before
// U+E000..U+FFFF: a snapshot listed in LMDB's order then failed its own order check.
function compareText(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
  // A low half that differs after a shared high half: the code points start one unit back.
  if (i > 0 && ((x & 0xfc00) === 0xdc00 || (y & 0xfc00) === 0xdc00) && (a.charCodeAt(i - 1) & 0xfc00) === 0xd800) i--;
  const p = codePointAt(a, i);
  const q = codePointAt(b, i);
  return p < q ? -1 : p > q ? 1 : 0;
}

/** The code point at `i`, or the lone surrogate's own unit. */
function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if ((c & 0xfc00) === 0xd800 && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if ((d & 0xfc00) === 0xdc00) return 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
  }
  return c;
}

/**
 * A key as one string, for maps of records. Each table's key parts have fixed
 * types, so joining them is unambiguous (and ~10× cheaper than JSON).
 */
export function keyId(k: Key): string {
  let id = String(k[0]);
  for (let i = 1; i < k.length; i++) id += "\u0000" + k[i];
  return id;
}

/**
 * A decoded record as plain JSON for people and comparisons (dumps): Maps
 * become objects and clocks plain objects, entries sorted by key, so equal
 * state gives equal dumps whatever order it was built in.
 */
export function plainView(v: unknown): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const k of [...v.keys()].sort()) Object.defineProperty(o, k, { value: plainView(v.get(k)), enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (Array.isArray(v)) return v.map(plainView);
  if (typeof v === "object" && v !== null) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) Object.defineProperty(o, k, { value: plainView(x), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  return v;
}

/**
 * Records held in memory: what decider specs and reducer tests fold events
 * into. `dump()` gives each record's plain view, as the store's dump does.
 */
export function memoryRecords(tables: RecordTables): Records & { dump(): { key: Key; value: unknown }[] } {
  const map = new Map<string, { key: Key; value: unknown }>();
  const sorted = () => [...map.values()].sort((a, b) => compareKeys(a.key, b.key));
  return {
    get: <T>(key: Key) => map.get(keyId(key))?.value as T | undefined,
    put: (key, value) => void map.set(keyId(key), { key, value }),
    remove: (key) => void map.delete(keyId(key)),
    *entries<T>(prefix: Key) {
      for (const e of sorted()) {
        if (e.key.length > prefix.length && prefix.every((p, i) => e.key[i] === p)) yield { key: e.key, value: e.value as T };
      }
    },
    dump: () => sorted().map(({ key, value }) => ({ key, value: plainView(value) })),
  };
}

// The event store on LMDB: two environments per wallet directory.
//
// wallet.mdb, the facts:
//   log     [device, seq] → sealed canonical JSON of the event   the shared log, keyed by dot
//   local   n → sealed JSON LocalEvent                           device-local events, own sequence
//   meta    key → sealed JSON                                    format, device id, root seed, heads
//   base    [table, ...key] → sealed JSON record                 the shared records folded from the events at or
//                                                                below the base frontier (compaction, snapshots)
// projections.mdb, a cache of their fold (store-files.ts says why it is apart):
//   proj    [table, ...key] → sealed JSON record                 materialized projections
//   meta    "projected", "projectionVersion", "owner"            up to which events the records are folded, and for whom
//
// A write commits wallet.mdb first and projections.mdb after it (the cache's
// transaction encloses the log's): the cache never claims events the log lacks.
//
// Every value is sealed with a CRC-32 (sealed-value.ts), so damage on disk is
// refused instead of read. An event is stored as the very bytes its hash is
// taken of: encoding it once serves the log, the chain and export.
//
// Every write (own append, remote import, local event) goes through `write`:
// one LMDB transaction, records through an overlay (each record decoded,
// changed in place, encoded and written once), heads written once at the end.
// Only one writer may hold a directory (store-lock.ts).
import { rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { decodeCrock, encodeCrock } from "../codec/crockford.ts";
import { randomBytes } from "../codec/keys.ts";
import { describeValue, WalletError } from "../errors.ts";
import { scopeOf, type LocalDraft, type SharedDraft } from "./catalogue.ts";
import { emptyClock, isDeviceId, leq, normalizeClock, seqOf, type VectorClock } from "./clock.ts";
import { MAX_LAMPORT, MAX_TIME_MS, validatePayload, type LocalEvent, type SharedEvent, type WalletEvent } from "./envelope.ts";
import { canonicalCopy, encodeEvent, hashOfBytes, logTag, type EncodedEvent } from "./event-codec.ts";
import { mapReserve } from "./map-reserve.ts";
import { layered, pendingRecords, type PendingRecord, type PendingRecords } from "./pending-records.ts";
import { createOverlay, type RecordTable } from "./record-overlay.ts";
import { compareKeys, keyId, plainView, tablesOf, type Key, type Projection, type RecordChange, type Records, type RecordTables } from "./records.ts";
import { damaged, sealJson, sealTransient, unseal, unsealJson } from "./sealed-value.ts";
import { asStoreError } from "./store-errors.ts";
import { checkDataFile, checkLockFile, DATA_FILE, dataFileSize, ensureDirectory, PROJECTIONS_FILE, readMarker, writeMarker, type Marker } from "./store-files.ts";
import { acquireWriterLock, type WriterLock } from "./store-lock.ts";

export type { Key, Projection, RecordChange, Records } from "./records.ts";

/**
 * An LMDB range, read so that what lmdb-js throws while decoding a damaged key
 * (a RangeError, not a store error) is a store-corrupt refusal naming `where`.
 */
function* scan<T>(range: Iterable<T>, where: string): Iterable<T> {
  const it = range[Symbol.iterator]();
  let finished = false;
  try {
    for (;;) {
      let r: IteratorResult<T>;
      try {
        r = it.next();
      } catch (e) {
        finished = true;
        if (e instanceof WalletError) throw e;
        throw damaged(where, `unreadable: ${(e as Error)?.message ?? String(e)}`);
      }
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // A reader that stops early (a prefix scan's `break`) must close lmdb's range: an open range keeps
    // its read snapshot alive, and LMDB cannot reuse any page freed after it, so the file grew with
    // every later commit (100k events in chunks of 1,000: 493 MB instead of 96 MB).
    if (!finished) it.return?.();
  }
}

export interface Head {
  seq: number;
  /** Crockford SHA-512 of the event's bytes: the next event's `prev`. */
  hash: string;
  lamport: number;
}

/**
 * A snapshot of the shared CRDT state at a frontier: the records a fold of
 * every event at or below `frontier` gives (registers per device, removal
 * clocks, spend sets: enough for exact merges afterwards), and each device's
 * chain head there, so events above the frontier chain on and compare.
 * The frontier is causally closed: every event below it has its deps below it.
 */
export interface Snapshot {
  frontier: VectorClock;
  heads: Record<string, { hash: string; lamport: number }>;
  /** The records in their stored JSON form (codec.encode), sorted by key. */
  records: { key: Key; json: unknown }[];
}

const FORMAT = { name: "taler-wallet-engine", version: 2 } as const;

/** Bump when a projection's record layout or meaning changes: reopening then rebuilds. */
// 6: projections are checkpointed (meta "projected" says up to which events).
// 7: projections live in projections.mdb.
// 8: a refresh spend is keyed by its event (two refreshes under one group id both count); exchanges
//    hold "touched" contributions; update state counts attempts in flight and names the keys of its ETag.
export const PROJECTION_VERSION = 8;

export interface StoreOptions {
  path: string;
  deviceId?: string;
  projections: Projection[];
  /** First key parts of the records whose changes `onCommit` reports. */
  trackChanges?: ReadonlySet<string>;
  /** Called after each committed write with the tracked records it touched. */
  onCommit?: (changes: RecordChange[]) => void;
  /**
   * Decoded records an overlay holds before it writes them mid-transaction:
   * a write's (default 50k) and a rebuild's or compaction's (default 100k);
   * and committed records held in memory before a checkpoint writes them to
   * projections.mdb (`pending`, default 20k). Tests set them tiny, so every fold is
   * written out part way and every commit checkpoints.
   */
  overlayRecords?: { write?: number; batch?: number; pending?: number };
}

const NO_TRACKING: ReadonlySet<string> = new Set();

/** What a write transaction offers to the engine. */
export interface WriteTxn {
  readonly records: Records;
  readonly deviceId: string;
  /** Current head of a device (staged view: includes this transaction's appends). */
  head(device: string): Head | undefined;
  clock(): VectorClock;
  /** Stamps and appends events authored here, evolving projections. */
  appendOwn(drafts: SharedDraft[], time: number): SharedEvent[];
  /** Appends an already-validated remote event whose predecessors are present, with its encoding. */
  appendRemote(e: SharedEvent, encoded: EncodedEvent): void;
  appendLocal(draft: LocalDraft, time: number): LocalEvent;
  getEvent(device: string, seq: number): SharedEvent | undefined;
  /** The base frontier: events at or below it may be folded into the base instead of held. */
  baseFrontier(): VectorClock;
  /**
   * Adopts `snap` as the base (its frontier must not be below the current one),
   * then re-folds the projections from it and the held events above it.
   */
  adoptSnapshot(snap: Snapshot): void;
  /** Replaces the wallet root seed (a recovery adopting another key); in effect when the transaction commits. */
  replaceRootSeed(seed: Uint8Array): void;
  /**
   * Whether the event stored under device:seq is exactly `text` (its canonical
   * JSON): "absent" when none is stored, "different" when another event is
   * (checked against its CRC first, so a damaged value is store-corrupt).
   */
  compareHeld(device: string, seq: number, text: string): HeldComparison;
}

export type HeldComparison = "same" | "different" | "absent";

export interface Store {
  readonly deviceId: string;
  /** The wallet root seed (Ed25519 private key) as last committed. */
  readonly rootSeed: Uint8Array;
  readonly path: string;
  /** The committed projection records (each get decodes a fresh copy). */
  readonly records: Records;
  /** Runs `fn` in one write transaction; throws (and writes nothing) when `fn` throws. */
  write<T>(fn: (tx: WriteTxn) => T): T;
  head(device: string): Head | undefined;
  clock(): VectorClock;
  getEvent(device: string, seq: number): SharedEvent | undefined;
  /** A device's events with seq in [from, to], ascending. */
  rangeOfDevice(device: string, from: number, to?: number): Iterable<SharedEvent>;
  /** All shared events in a causal order: merged across devices by (lamport, device). */
  eventsInCausalOrder(): Iterable<SharedEvent>;
  localEvents(): Iterable<LocalEvent>;
  eventCount(): number;
  /** Drops every projection record and folds them again: the base, then the held events above it. */
  rebuild(): void;
  /** The base frontier (empty without a base). */
  baseFrontier(): VectorClock;
  /**
   * Moves the base up to `frontier` (causally closed, not above the clock):
   * folds the held events between the old and the new frontier into the base.
   */
  compact(frontier: VectorClock): void;
  /** The base as a snapshot (what a backup carries instead of the events below its frontier). */
  snapshot(): Snapshot;
  /** The base's records, read-only (base-only facts of what was folded into it, e.g. coin secrets). */
  readonly baseRecords: Records;
  /** Every projection record as plain JSON (records.ts plainView), for comparisons (tests, rebuild checks). */
  dumpRecords(): { key: Key; value: unknown }[];
  close(): Promise<void>;
}

const head = (d: string): Key => ["head", d];
/** What a value's checksum binds it to: its key (sealed-value.ts). */
const tagOf = (key: Key | string) => (typeof key === "string" ? `meta:${key}` : `meta:${keyId(key)}`);

/** Named databases are keys of the root database: any other key belongs to someone else. */
const WALLET_DATABASES: ReadonlySet<unknown> = new Set(["log", "local", "meta", "proj", "base"]);
const hasForeignRootKey = (root: RootDatabase): boolean => [...root.getKeys({})].some((k) => !WALLET_DATABASES.has(k));
const foreignStore = (dir: string) => new WalletError("store-foreign", `${dir} holds an LMDB store that is not a wallet of this engine`);

/** Opens (or creates) the store of one wallet directory, taking its writer lock. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const dir = opts.path;
  // Checked before anything is created: a refused open leaves no directory behind.
  if (opts.deviceId !== undefined && !isDeviceId(opts.deviceId)) {
    throw new WalletError("device-id-invalid", `device id must match [A-Za-z0-9_-]{1,64} and not be __proto__, got ${describeValue(opts.deviceId)}`);
  }
  ensureDirectory(dir);
  const marker = readMarker(dir);
  const size = dataFileSize(dir);
  if (marker && (size === undefined || size === 0)) {
    throw new WalletError("store-corrupt", `${join(dir, DATA_FILE)} is ${size === undefined ? "missing" : "empty"}, but ${dir} held the wallet of device ${marker.deviceId}`);
  }
  checkLockFile(dir);
  checkDataFile(dir);
  const lock = await acquireWriterLock(dir);
  let root: RootDatabase | undefined;
  let cache: RootDatabase | undefined;
  try {
    root = openEnvironment(dir);
    // Another application's store is refused before anything is created in it or beside it
    // (the named databases below, projections.mdb): a refused open leaves it as it was.
    if (marker === undefined && hasForeignRootKey(root)) throw foreignStore(dir);
    cache = openCache(dir);
    return await openOn(root, cache, lock, opts, marker);
  } catch (e) {
    await cache?.close().catch(() => {});
    await root?.close().catch(() => {});
    await lock.release();
    throw asStoreError(e, `cannot open the wallet store in ${dir}`);
  }
}

/**
 * The projections' environment. It only caches a fold of wallet.mdb, so one
 * whose header fails the checks is removed and folded again, where damage to
 * wallet.mdb is refused.
 */
function openCache(dir: string): RootDatabase {
  checkLockFile(dir, PROJECTIONS_FILE);
  try {
    checkDataFile(dir, PROJECTIONS_FILE);
  } catch (e) {
    if (!(e instanceof WalletError) || e.code !== "store-corrupt") throw e;
    try {
      rmSync(join(dir, PROJECTIONS_FILE), { force: true });
      rmSync(join(dir, `${PROJECTIONS_FILE}-lock`), { force: true });
    } catch (r) {
      throw asStoreError(r, `cannot remove the damaged ${join(dir, PROJECTIONS_FILE)}`);
    }
  }
  return openEnvironment(dir, PROJECTIONS_FILE);
}

/**
 * Records a rebuild or a compaction holds decoded before writing them. At 1M
 * events 500k held 1.1 GB of heap for the same speed as 50k (0.5 GB); at 100k
 * events 50k was ~4% slower.
 */
const BATCH_OVERLAY_RECORDS = 100_000;
const WRITE_OVERLAY_RECORDS = 50_000;
/**
 * Committed projection records held in memory (as JSON text, a few MB) before
 * a checkpoint writes them to projections.mdb in the commit that passes this
 * many. A crash loses at most these, and the next open folds their events
 * again. A checkpoint rewrites leaves all over the coin tree and frees as many
 * pages; while the records shared wallet.mdb with the log, that free list cost
 * every later durable commit (at 20k, 35% of a 1M wallet's durable append in
 * mdb_midl_insert), so checkpoints were cut to 2k, which made a chunked append
 * checkpoint every chunk. In a file of their own they cost the log's commits
 * nothing: at 20k the chunked append onto 1M takes 47 s against 72 s at 2k,
 * durable, batched and import appends the same.
 */
const PENDING_RECORDS = 20_000;

/** Up to which events the projection records in LMDB are folded (meta "projected"). */
interface ProjectedMeta {
  clock: VectorClock;
  localNext: number;
}

function openEnvironment(dir: string, file = DATA_FILE): RootDatabase {
  // overlappingSync off: a committed transactionSync is on disk when it returns.
  const options = { path: join(dir, file), overlappingSync: false, maxDbs: 8, encoding: "binary" } as const;
  const mapSize = mapReserve();
  if (mapSize) {
    try {
      return open({ ...options, mapSize });
    } catch {
      // A refused reserve: lmdb-js's growing map below (a real fault fails there too, and is reported).
    }
  }
  try {
    return open(options);
  } catch (e) {
    throw asStoreError(e, `cannot open the wallet store in ${dir}`);
  }
}

async function openOn(root: RootDatabase, cache: RootDatabase, lock: WriterLock, opts: StoreOptions, marker: Marker | undefined): Promise<Store> {
  const dir = opts.path;
  const db = (name: string) => root.openDB({ name, encoding: "binary" }) as Database<Buffer, Key | string | number>;
  const log = db("log");
  const local = db("local");
  const meta = db("meta");
  const baseDb = db("base");
  // The records in projections.mdb. A wallet written before that file keeps its old records in a "proj"
  // database of wallet.mdb, unread: dropping it would free all its pages as one free-list entry, which
  // LMDB rewrites in every later commit until the pages are reused, the cost this file split removes.
  const proj = cache.openDB({ name: "proj", encoding: "binary" }) as Database<Buffer, Key | string | number>;
  const cacheMeta = cache.openDB({ name: "meta", encoding: "binary" }) as Database<Buffer, string>;
  const tables: RecordTables = tablesOf(opts.projections);
  const projections = opts.projections;

  const getMeta = <T>(key: Key | string): T | undefined => {
    const v = meta.get(key);
    return v === undefined ? undefined : unsealJson<T>(v, tagOf(key), `meta ${JSON.stringify(key)}`);
  };
  const putMeta = (key: Key | string, v: unknown) => void meta.put(key, sealJson(v, tagOf(key)));
  const getCacheMeta = <T>(key: string): T | undefined => {
    const v = cacheMeta.get(key);
    return v === undefined ? undefined : unsealJson<T>(v, `cache:${key}`, `projections meta ${JSON.stringify(key)}`);
  };
  // Only inside a transaction on `cache`.
  const putCacheMeta = (key: string, v: unknown) => void cacheMeta.put(key, sealJson(v, `cache:${key}`));

  const init = initMeta(root, getMeta, putMeta, log, opts, marker);
  const deviceId = init.deviceId;
  let rootSeed = init.rootSeed;
  if (marker === undefined) writeMarker(dir, { format: FORMAT.name, deviceId });

  // Caches of facts that live in `meta`; staged per transaction, adopted after its commit.
  const heads = new Map<string, Head>();
  for (const { key, value } of scan(meta.getRange({ start: ["head"] }), "meta")) {
    const k = key as Key;
    if (!Array.isArray(k) || k[0] !== "head") break;
    heads.set(k[1] as string, unsealJson<Head>(value, tagOf(k), `head of ${String(k[1])}`));
  }
  let maxLamport = getMeta<number>("lamport") ?? 0;
  let localNext = getMeta<number>("localNext") ?? 1;
  type BaseMeta = { frontier: [string, number][]; heads: [string, string, number][] };
  const baseOf = (m: BaseMeta | undefined) => {
    const frontier = emptyClock();
    const bheads = new Map<string, Head>();
    for (const [d, s] of m?.frontier ?? []) frontier[d] = s;
    for (const [d, hash, lamport] of m?.heads ?? []) bheads.set(d, { seq: frontier[d], hash, lamport });
    return { frontier, heads: bheads };
  };
  let base = baseOf(getMeta<BaseMeta>("base"));

  // ---------------------------------------------------------------- reading

  const decodeRecord = (key: Key, stored: Buffer): unknown => {
    const codec = tables[key[0] as string];
    if (!codec) throw damaged(`record ${JSON.stringify(key)}`, "of a table no projection owns");
    return codec.decode(unsealJson(stored, keyId(key), `record ${JSON.stringify(key)}`), key);
  };

  function* range(prefix: Key): Iterable<{ key: Key; value: Buffer }> {
    for (const { key, value } of scan(proj.getRange(prefix.length > 0 ? { start: prefix } : {}), "projection records")) {
      const k = key as Key;
      if (k.length <= prefix.length || !prefix.every((p, i) => k[i] === p)) break;
      yield { key: k, value };
    }
  }

  /** The projection records in LMDB, as they are there: what a rebuild and a catch-up fold into. */
  const projTable: RecordTable = {
    get(key) {
      // lmdb's shared read buffer, no copy: the record is decoded before anything else reads.
      const v = proj.getBinaryFast(key) as Buffer | undefined;
      return v === undefined ? undefined : decodeRecord(key, v);
    },
    put(key, value) {
      putStoredText(key, encodeRecord(key, value));
    },
    remove: (key) => void proj.remove(key),
    *range(prefix) {
      for (const { key, value } of range(prefix)) yield { key, value: decodeRecord(key, value) };
    },
  };

  const encodeRecord = (key: Key, value: unknown): string => {
    const codec = tables[key[0] as string];
    if (!codec) throw new Error(`no record table ${String(key[0])}`);
    return JSON.stringify(codec.encode(value));
  };
  // Only inside a write transaction (see sealTransient).
  const putStoredText = (key: Key, text: string | undefined) => {
    if (text === undefined) proj.remove(key);
    else proj.put(key, sealTransient(text, keyId(key)));
  };

  // ---------------------------------------------------------------- pending records

  // Committed records not yet in LMDB (pending-records.ts); the running write
  // transaction's own records, adopted into `pending` when it commits; and
  // whether it has written `pending` out (then LMDB, inside the transaction,
  // is newer than `pending`, which the commit drops).
  const pending = pendingRecords();
  // `limit`: records the transaction holds before writing everything out (Infinity: it cannot write).
  let txn: { records: PendingRecords; pendingOut: boolean; limit: number } | undefined;
  const pendingLimit = opts.overlayRecords?.pending ?? PENDING_RECORDS;

  const decodeText = (r: PendingRecord): unknown => tables[r.key[0] as string]!.decode(JSON.parse(r.text!), r.key);

  const pendingOf = (key: Key): PendingRecord | undefined => {
    if (txn) {
      const r = txn.records.size > 0 ? txn.records.get(key) : undefined;
      if (r || txn.pendingOut) return r;
    }
    return pending.size > 0 ? pending.get(key) : undefined;
  };

  const pendingWithPrefix = (prefix: Key): PendingRecord[] => {
    const older = txn?.pendingOut || pending.size === 0 ? [] : pending.withPrefix(prefix);
    const newer = txn && txn.records.size > 0 ? txn.records.withPrefix(prefix) : [];
    if (newer.length === 0) return older;
    if (older.length === 0) return newer;
    const byId = new Map(older.map((r) => [keyId(r.key), r]));
    for (const r of newer) byId.set(keyId(r.key), r);
    return [...byId.values()].sort((a, b) => compareKeys(a.key, b.key));
  };

  /** Inside a write transaction: every pending record and the transaction's own into LMDB. */
  function writePendingOut() {
    const t = txn!;
    if (!t.pendingOut) for (const r of pending.values()) putStoredText(r.key, r.text);
    t.pendingOut = true;
    for (const r of t.records.values()) putStoredText(r.key, r.text);
    t.records.clear();
  }

  const projectedNow = (clock: VectorClock, next: number): ProjectedMeta => ({ clock: normalizeClock(clock), localNext: next });

  /** The projection records as the engine sees them: the transaction's, then the pending ones, then LMDB's. */
  const table: RecordTable = {
    get(key) {
      const r = pendingOf(key);
      if (r) return r.text === undefined ? undefined : decodeText(r);
      return projTable.get(key);
    },
    // Once a transaction has written everything out (a checkpoint), LMDB is its layer: it writes through.
    put(key, value) {
      if (!txn || txn.pendingOut) return projTable.put(key, value);
      txn.records.set(key, encodeRecord(key, value));
      if (txn.records.size > txn.limit) writePendingOut();
    },
    remove(key) {
      if (!txn || txn.pendingOut) return projTable.remove(key);
      txn.records.set(key, undefined);
    },
    range: (prefix) => layered(projTable.range(prefix), pendingWithPrefix(prefix), decodeText),
  };

  /** The base's records, read and written like the projections' (same codecs, same checksums). */
  const baseTable: RecordTable = {
    get(key) {
      const v = baseDb.get(key);
      return v === undefined ? undefined : decodeRecord(key, v);
    },
    put(key, value) {
      const codec = tables[key[0] as string];
      if (!codec || codec.local) throw new Error(`no shared record table ${String(key[0])}`);
      baseDb.put(key, sealJson(codec.encode(value), keyId(key)));
    },
    remove: (key) => void baseDb.remove(key),
    *range(prefix) {
      for (const { key, value } of scan(baseDb.getRange({ start: prefix }), "base records")) {
        const k = key as Key;
        if (k.length <= prefix.length || !prefix.every((p, i) => k[i] === p)) break;
        yield { key: k, value: decodeRecord(k, value) };
      }
    },
  };

  const records: Records = {
    get: <T>(key: Key) => table.get(key) as T | undefined,
    put: () => {
      throw new Error("records outside a transaction are read-only");
    },
    remove: () => {
      throw new Error("records outside a transaction are read-only");
    },
    entries: <T>(prefix: Key) => table.range(prefix) as Iterable<{ key: Key; value: T }>,
  };

  const decodeEvent = (device: string, seq: number, stored: Buffer): SharedEvent => {
    const where = `event ${device}:${seq}`;
    let e: SharedEvent;
    try {
      e = JSON.parse(unseal(stored, logTag(device, seq), where).toString("utf8")) as SharedEvent;
    } catch (err) {
      throw err instanceof WalletError ? err : damaged(where, "not JSON");
    }
    if (e.device !== device || e.seq !== seq) throw damaged(where, `holds ${String(e.device)}:${String(e.seq)}`);
    return e;
  };

  const getEvent = (d: string, s: number): SharedEvent | undefined => {
    const v = log.get([d, s]);
    return v === undefined ? undefined : decodeEvent(d, s, v);
  };

  // One buffer the incoming text is written into for compareHeld: no allocation per held event.
  let heldScratch = Buffer.allocUnsafe(1 << 16);
  function compareHeld(d: string, s: number, text: string): HeldComparison {
    // getBinaryFast gives lmdb's shared read buffer, valid until the next read, with no copy and no
    // cursor (~5× a range scan's rate here). Only its `length` is the value's: copy before keeping it.
    const stored = log.getBinaryFast([d, s]) as Buffer | undefined;
    if (stored === undefined) return "absent";
    if (text.length * 3 > heldScratch.length) heldScratch = Buffer.allocUnsafe(text.length * 3);
    const n = heldScratch.write(text, 0, "utf8");
    // Equal bytes are the stored event; the CRC only matters when they differ: damage, or another event.
    if (n === stored.length - 4 && heldScratch.compare(stored, 4, stored.length, 0, n) === 0) return "same";
    unseal(Buffer.from(stored.subarray(0, stored.length)), logTag(d, s), `event ${d}:${s}`);
    return "different";
  }

  function* rangeOfDevice(d: string, from: number, to = Number.MAX_SAFE_INTEGER): Iterable<SharedEvent> {
    for (const { key, value } of scan(log.getRange({ start: [d, from], end: [d, to === Number.MAX_SAFE_INTEGER ? to : to + 1] }), `log of ${d}`)) {
      yield decodeEvent(d, (key as [string, number])[1], value);
    }
  }

  /**
   * Every device's events above `after` merged by (lamport, device): a causal
   * order, since an event's lamport exceeds its dependencies'.
   */
  function* eventsInCausalOrder(after: VectorClock = emptyClock(), devices: Iterable<string> = heads.keys()): Iterable<SharedEvent> {
    const cursors = [...devices]
      .sort()
      .map((d) => ({ d, it: rangeOfDevice(d, seqOf(after, d) + 1)[Symbol.iterator](), next: undefined as SharedEvent | undefined }));
    try {
      for (const c of cursors) c.next = c.it.next().value ?? undefined;
      for (;;) {
        let best: (typeof cursors)[number] | undefined;
        for (const c of cursors) if (c.next && (!best || c.next.lamport < best.next!.lamport)) best = c;
        if (!best) return;
        yield best.next!;
        best.next = best.it.next().value ?? undefined;
      }
    } finally {
      // A reader that stops early leaves the other devices' ranges open: close them (see scan).
      for (const c of cursors) c.it.return?.();
    }
  }

  /** The device-local events, from number `from` on. */
  function* localEvents(from = 1): Iterable<LocalEvent> {
    for (const { key, value } of scan(local.getRange({ start: from }), "local events")) yield unsealJson<LocalEvent>(value, `local:${String(key)}`, `local event ${String(key)}`);
  }

  /** The stored head of each device must be the hash of its newest stored event: the chain is whole at its ends. */
  for (const [d, h] of heads) {
    const stored = log.get([d, h.seq]);
    const atBase = base.heads.get(d);
    if (stored === undefined) {
      // A head the base holds (a device known only from a snapshot) is checked against the base.
      if (!atBase || atBase.seq !== h.seq || atBase.hash !== h.hash) throw damaged(`head of ${d}`, `event ${d}:${h.seq} is missing`);
    } else if (hashOfBytes(unseal(stored, logTag(d, h.seq), `event ${d}:${h.seq}`)) !== h.hash) {
      throw damaged(`head of ${d}`, `event ${d}:${h.seq} does not hash to the recorded head`);
    }
    if (log.get([d, h.seq + 1]) !== undefined) throw damaged(`head of ${d}`, `event ${d}:${h.seq + 1} lies beyond the head`);
  }

  const clockOf = (hs: Map<string, Head>, staged?: Map<string, Head>): VectorClock => {
    const c = emptyClock();
    for (const [d, h] of hs) c[d] = h.seq;
    if (staged) for (const [d, h] of staged) c[d] = h.seq;
    return c;
  };


  const evolveShared = (recs: Records, e: SharedEvent) => {
    for (const p of projections) p.evolveShared?.(recs, e);
  };
  const evolveLocal = (recs: Records, e: LocalEvent) => {
    for (const p of projections) p.evolveLocal?.(recs, e);
  };

  /** A failed write: on a full disk lmdb may only say "Input/output error", so the free space decides. */
  const writeFailure = (e: unknown): WalletError => {
    const w = asStoreError(e, "the wallet store could not write");
    if (w.code === "store-failed") {
      try {
        const fs = statfsSync(dir);
        if (fs.bavail * fs.bsize < 1024 * 1024) return new WalletError("store-disk-full", `the disk is full: ${w.message}`);
      } catch {
        // statfs unavailable: keep the unclassified error
      }
    }
    return w;
  };

  let inWrite = false;
  let closed = false;

  function write<T>(fn: (tx: WriteTxn) => T): T {
    if (closed) throw new WalletError("wallet-closed", "the wallet store is closed");
    if (inWrite) throw new WalletError("store-reentrant", "a write transaction is already running");
    const staged = new Map<string, Head>();
    let lamport = maxLamport;
    let nextLocal = localNext;
    const headOf = (d: string) => staged.get(d) ?? heads.get(d);
    const overlay = createOverlay(table, opts.trackChanges ?? NO_TRACKING, opts.overlayRecords?.write ?? WRITE_OVERLAY_RECORDS);
    const own = { records: pendingRecords(), pendingOut: false, limit: pendingLimit };
    let pendingBase: typeof base | undefined;
    let pendingSeed: Uint8Array | undefined;

    const storeShared = (e: SharedEvent, enc: EncodedEvent) => {
      // Puts copy inside this synchronous transaction: the sealed bytes need no buffer of their own.
      log.put([e.device, e.seq], sealTransient(enc.text, logTag(e.device, e.seq)));
      staged.set(e.device, { seq: e.seq, hash: enc.hash, lamport: e.lamport });
      if (e.lamport > lamport) lamport = e.lamport;
      evolveShared(overlay.records, e);
    };

    const tx: WriteTxn = {
      records: overlay.records,
      deviceId,
      head: headOf,
      clock: () => clockOf(heads, staged),
      getEvent,
      compareHeld,
      appendOwn(drafts, time) {
        checkTime(time);
        const out: SharedEvent[] = [];
        // Deps list the devices in canonical order, so the event encodes on the fast path; only this device's seq moves within the call.
        const devices = [...new Set([...heads.keys(), ...staged.keys(), deviceId])].sort();
        for (const draft of drafts) {
          if (scopeOf(draft.type) !== "shared") {
            throw new WalletError("event-invalid", `${draft.type} is device-local; append it with appendLocal`);
          }
          // The device's own events are held to the rules its peers apply on import.
          validatePayload(draft.type, draft.data, "new event");
          // The rule peers apply on import (envelope.ts): never write what they would refuse.
          if (lamport + 1 >= MAX_LAMPORT - 1) throw new WalletError("import-bad-lamport", `lamport ${lamport + 1} leaves no successor below ${MAX_LAMPORT}`);
          const h = headOf(deviceId);
          // Envelope keys in canonical order, so the event encodes on the fast path.
          const e = {
            data: canonicalCopy(draft.data),
            deps: depsNow(devices, headOf),
            device: deviceId,
            lamport: lamport + 1,
            ...(h ? { prev: h.hash } : {}),
            seq: (h?.seq ?? 0) + 1,
            time,
            type: draft.type,
          } as SharedEvent;
          // Built in canonical order from canonical parts: stringify directly, no second ordering check.
          storeShared(e, encodeEvent(e as WalletEvent, JSON.stringify(e)));
          out.push(e);
        }
        return out;
      },
      appendRemote: storeShared,
      baseFrontier: () => normalizeClock(pendingBase?.frontier ?? base.frontier),
      replaceRootSeed(seed) {
        if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new WalletError("key-invalid-seed", `a wallet root seed is 32 bytes, got ${String((seed as Uint8Array)?.length)}`);
        putMeta("rootSeed", encodeCrock(seed));
        pendingSeed = Uint8Array.from(seed);
      },
      adoptSnapshot(snap) {
        const next = checkSnapshot(snap, headOf, pendingBase ?? base);
        // Records this transaction changed so far go down first: the re-fold reads from the table.
        // And what the tracked tables hold now is what the commit's notifications compare against.
        overlay.trackWholeTables();
        for (const key of [...scan(baseDb.getKeys({}), "base records")]) baseDb.remove(key as Key);
        for (const r of snap.records) baseDb.put(r.key, sealJson(r.json, keyId(r.key)));
        putMeta("base", baseMeta(next));
        pendingBase = next;
        for (const [d, h] of next.heads) {
          if ((headOf(d)?.seq ?? 0) < h.seq) staged.set(d, h);
          if (h.lamport > lamport) lamport = h.lamport;
        }
        // Devices first met in this transaction (an earlier import of it) are folded too.
        refold(next, new Set([...heads.keys(), ...staged.keys()]));
      },
      appendLocal(draft, time) {
        checkTime(time);
        if (scopeOf(draft.type) !== "local") {
          throw new WalletError("event-invalid", `${draft.type} is shared; append it with appendOwn`);
        }
        validatePayload(draft.type, draft.data, "new local event");
        const e = { n: nextLocal++, time, ...draft } as LocalEvent;
        local.put(e.n, sealJson(e, `local:${e.n}`));
        evolveLocal(overlay.records, e);
        return e;
      },
    };

    inWrite = true;
    txn = own;
    let result: T | undefined;
    let changes: RecordChange[] = [];
    let logCommitted = false;
    let cacheFailed = false;
    try {
      // The cache's transaction encloses the log's, so the log commits first: records
      // written through to the cache never describe events a failed commit dropped.
      result = cache.transactionSync(() => {
        const r = root.transactionSync(() => {
          const r = fn(tx);
          overlay.flush();
          changes = overlay.changes();
          // A checkpoint: the pending records and this transaction's into the cache, with the clock they are folded up to.
          if (own.pendingOut || pending.size + own.records.size > pendingLimit) {
            writePendingOut();
            putCacheMeta("projected", projectedNow(clockOf(heads, staged), nextLocal));
          }
          for (const [d, h] of staged) putMeta(head(d), h);
          if (lamport !== maxLamport) putMeta("lamport", lamport);
          if (nextLocal !== localNext) putMeta("localNext", nextLocal);
          return r;
        });
        logCommitted = true;
        return r;
      });
    } catch (e) {
      if (!logCommitted) throw e instanceof WalletError ? e : writeFailure(e);
      // The events are committed; only the cache's commit failed, and the cache is as it was.
      cacheFailed = true;
    } finally {
      inWrite = false;
      txn = undefined;
    }
    if (cacheFailed) pending.clear();
    else {
      if (own.pendingOut) pending.clear();
      pending.adopt(own.records);
    }
    for (const [d, h] of staged) heads.set(d, h);
    if (pendingBase) base = pendingBase;
    if (pendingSeed) rootSeed = pendingSeed;
    maxLamport = lamport;
    localNext = nextLocal;
    // What the failed cache commit held is folded again from the log, into memory.
    if (cacheFailed) catchUp();
    opts.onCommit?.(changes);
    return result as T;
  }

  /**
   * Inside a transaction: the projections again from scratch, the base's records
   * first, then every held event above the base frontier in causal order, then
   * the local events.
   */
  function refold(b: typeof base, devices: Iterable<string> = heads.keys()) {
    // Everything is folded again from the log: what is pending (and this transaction's records) is superseded.
    if (txn) {
      txn.pendingOut = true;
      txn.records.clear();
    }
    // One drop inside this transaction, not a read and a delete per record (a rebuild at 1M events held ~1M of them).
    proj.clearSync();
    // Base records are sealed under the same key tags as projection records: the bytes copy as they are
    // (all but the base-only facts, which the projections do not hold).
    for (const { key, value } of scan(baseDb.getRange({}), "base records")) if (!tables[(key as Key)[0] as string]?.baseOnly) proj.put(key as Key, value);
    // A rebuild is a batch, not a series of requests: a larger overlay than a request's.
    const overlay = createOverlay(projTable, NO_TRACKING, opts.overlayRecords?.batch ?? BATCH_OVERLAY_RECORDS);
    for (const e of eventsInCausalOrder(b.frontier, devices)) evolveShared(overlay.records, e);
    for (const e of localEvents()) evolveLocal(overlay.records, e);
    overlay.flush();
  }

  function rebuild() {
    try {
      cache.transactionSync(() => {
        refold(base);
        putCacheMeta("projectionVersion", PROJECTION_VERSION);
        putCacheMeta("owner", owner);
        putCacheMeta("projected", projectedNow(clockOf(heads), localNext));
      });
    } catch (e) {
      throw e instanceof WalletError ? e : writeFailure(e);
    }
    pending.clear();
  }

  /** Writes every pending record to LMDB with the clock they are folded up to. */
  function checkpoint() {
    cache.transactionSync(() => {
      for (const r of pending.values()) putStoredText(r.key, r.text);
      putCacheMeta("projected", projectedNow(clockOf(heads), localNext));
    });
    pending.clear();
  }

  /**
   * At open: folds what the projection records in LMDB lack, the events a crash
   * left pending (those above the "projected" clock, local ones from its
   * localNext). Any causal order folds to the same records (the merge laws).
   * The fold goes to memory first and then to LMDB if it can: a wallet on a
   * full disk still opens, its records pending.
   */
  function catchUp() {
    const p = getCacheMeta<ProjectedMeta>("projected");
    if (p === undefined || typeof p.clock !== "object" || p.clock === null || !Number.isSafeInteger(p.localNext)) return rebuild();
    // A cache folded beyond this log (a wallet.mdb restored from an older copy) is folded again from scratch.
    if (Object.entries(p.clock).some(([d, s]) => s > (heads.get(d)?.seq ?? 0)) || p.localNext > localNext) return rebuild();
    // Events the base stands for that the cache never folded and the log does not hold (a snapshot adopted
    // just before a crash, or whose cache commit failed): only a fold from the base has them.
    for (const d of Object.keys(base.frontier)) {
      const folded = seqOf(p.clock, d);
      if (base.frontier[d] > folded && log.get([d, folded + 1]) === undefined) return rebuild();
    }
    const behind = [...heads].some(([d, h]) => h.seq > seqOf(p.clock, d)) || p.localNext < localNext;
    if (!behind) return;
    const folded = { records: pendingRecords(), pendingOut: false, limit: Infinity };
    txn = folded;
    try {
      const overlay = createOverlay(table, NO_TRACKING, opts.overlayRecords?.batch ?? BATCH_OVERLAY_RECORDS);
      for (const e of eventsInCausalOrder(p.clock)) evolveShared(overlay.records, e);
      for (const e of localEvents(p.localNext)) evolveLocal(overlay.records, e);
      overlay.flush();
    } finally {
      txn = undefined;
    }
    pending.adopt(folded.records);
    try {
      checkpoint();
    } catch {
      // Kept in memory: the next checkpoint (or the next open) writes them.
    }
  }

  /**
   * A snapshot's frontier, heads and records checked against this store, whose
   * base is `cur` (the committed one, or one adopted earlier in the transaction);
   * the base it would become.
   */
  function checkSnapshot(snap: Snapshot, headOf: (d: string) => Head | undefined, cur: typeof base): typeof base {
    const invalid = (why: string) => new WalletError("snapshot-invalid", `the snapshot is malformed: ${why}`);
    if (typeof snap !== "object" || snap === null || typeof snap.frontier !== "object" || snap.frontier === null) throw invalid("no frontier");
    const next = { frontier: emptyClock(), heads: new Map<string, Head>() };
    for (const [d, s] of Object.entries(snap.frontier)) {
      if (!isDeviceId(d) || !Number.isSafeInteger(s) || s < 0) throw invalid(`frontier entry ${d}`);
      if (s === 0) continue;
      next.frontier[d] = s;
      const h = Object.prototype.hasOwnProperty.call(snap.heads, d) ? snap.heads[d] : undefined;
      if (!h || typeof h.hash !== "string" || !Number.isSafeInteger(h.lamport) || h.lamport < 1 || h.lamport >= MAX_LAMPORT) throw invalid(`no head for ${d}:${s}`);
      next.heads.set(d, { seq: s, hash: h.hash, lamport: h.lamport });
    }
    // Where this wallet's base reaches above the snapshot's frontier, the new base is lower there: the events
    // in between are folded on top of it again, so this wallet must hold each of them as an event. Its own
    // compactions keep their events; only what it adopted from another snapshot it may lack.
    for (const d of Object.keys(cur.frontier)) {
      const from = seqOf(next.frontier, d) + 1;
      const to = cur.frontier[d];
      if (from > to) continue;
      let held = 0;
      for (const _ of scan(log.getKeys({ start: [d, from], end: [d, to + 1] }), `log of ${d}`)) held++;
      if (held !== to - from + 1) {
        throw new WalletError("snapshot-incomparable", `the snapshot stops below this wallet's base at ${d}:${from}..${to}, which this wallet holds only folded into its base (from another snapshot)`, {
          base: normalizeClock(cur.frontier),
          frontier: normalizeClock(next.frontier),
          missing: { device: d, from, to },
        });
      }
    }
    for (const [d, h] of next.heads) {
      const s = h.seq;
      // What this wallet holds at a head dot must be that very event.
      const held = log.get([d, s]);
      const known = held !== undefined ? hashOfBytes(unseal(held, logTag(d, s), `event ${d}:${s}`)) : cur.heads.get(d)?.seq === s ? cur.heads.get(d)!.hash : undefined;
      if (known !== undefined && known !== h.hash) {
        throw new WalletError("snapshot-inconsistent", `the snapshot's head ${d}:${s} is another event than the one this wallet holds`, { device: d, seq: s });
      }
      if (known === undefined && (headOf(d)?.seq ?? 0) >= s && seqOf(cur.frontier, d) >= s) {
        throw new WalletError("snapshot-inconsistent", `${d}:${s} is folded into this wallet's base and cannot be compared`, { device: d, seq: s });
      }
    }
    let prev: Key | undefined;
    for (const r of snap.records) {
      if (!Array.isArray(r?.key) || typeof r.key[0] !== "string") throw invalid("a record without a key");
      const codec = tables[r.key[0]];
      if (!codec || codec.local) throw invalid(`a record of table ${JSON.stringify(r.key[0])}, which is not shared state`);
      if (prev && compareKeys(prev, r.key) >= 0) throw invalid("records out of key order or repeated");
      prev = r.key;
      const wrong = codec.shape?.check(r.json);
      if (wrong) throw invalid(`record ${JSON.stringify(r.key)} is malformed at ${wrong.path || "its root"}: ${wrong.reason}`);
      try {
        codec.encode(codec.decode(r.json, r.key));
      } catch {
        throw invalid(`record ${JSON.stringify(r.key)} does not decode`);
      }
    }
    return next;
  }

  const baseMeta = (b: typeof base): BaseMeta => ({
    frontier: Object.keys(b.frontier)
      .sort()
      .map((d): [string, number] => [d, b.frontier[d]]),
    heads: [...b.heads].sort(([x], [y]) => (x < y ? -1 : 1)).map(([d, h]): [string, string, number] => [d, h.hash, h.lamport]),
  });

  function compact(frontier: VectorClock) {
    if (!leq(base.frontier, frontier)) throw new WalletError("snapshot-incomparable", "a base only moves up: the new frontier is below the current one");
    if (!leq(frontier, clockOf(heads))) throw new WalletError("request-invalid", "the frontier is above what this wallet holds");
    const next = { frontier: emptyClock(), heads: new Map(base.heads) };
    for (const d of Object.keys(frontier)) if (frontier[d] > 0) next.frontier[d] = frontier[d];
    try {
      root.transactionSync(() => {
        const overlay = createOverlay(baseTable, NO_TRACKING, opts.overlayRecords?.batch ?? BATCH_OVERLAY_RECORDS);
        for (const e of eventsInCausalOrder(base.frontier)) {
          if (e.seq > seqOf(next.frontier, e.device)) continue;
          for (const d of Object.keys(e.deps)) {
            if (e.deps[d] > seqOf(next.frontier, d)) {
              throw new WalletError("request-invalid", `the frontier is not causally closed: ${e.device}:${e.seq} depends on ${d}:${e.deps[d]}`);
            }
          }
          evolveShared(overlay.records, e);
          for (const p of projections) p.evolveBase?.(overlay.records, e);
          if (e.seq === next.frontier[e.device]) next.heads.set(e.device, { seq: e.seq, hash: hashOfBytes(unseal(log.get([e.device, e.seq])!, logTag(e.device, e.seq), `event ${e.device}:${e.seq}`)), lamport: e.lamport });
        }
        overlay.flush();
        putMeta("base", baseMeta(next));
      });
    } catch (e) {
      throw e instanceof WalletError ? e : writeFailure(e);
    }
    base = next;
  }

  function snapshot(): Snapshot {
    const records: { key: Key; json: unknown }[] = [];
    for (const { key, value } of scan(baseDb.getRange({}), "base records")) records.push({ key: key as Key, json: unsealJson(value, keyId(key as Key), `base record ${JSON.stringify(key)}`) });
    const heads: Record<string, { hash: string; lamport: number }> = {};
    for (const [d, h] of [...base.heads].sort(([x], [y]) => (x < y ? -1 : 1))) heads[d] = { hash: h.hash, lamport: h.lamport };
    return { frontier: normalizeClock(base.frontier), heads, records };
  }

  // The cache must be this wallet's (not a projections.mdb from another directory) and of this engine's layout.
  let owner = getMeta<string>("walletId");
  if (owner === undefined) {
    owner = encodeCrock(randomBytes(16));
    try {
      root.transactionSync(() => putMeta("walletId", owner));
    } catch (e) {
      throw writeFailure(e);
    }
  }
  if (getCacheMeta<number>("projectionVersion") !== PROJECTION_VERSION || getCacheMeta<string>("owner") !== owner) rebuild();
  else catchUp();

  return {
    deviceId,
    get rootSeed() {
      return rootSeed;
    },
    path: dir,
    records,
    write,
    head: (d) => heads.get(d),
    clock: () => clockOf(heads),
    getEvent,
    rangeOfDevice,
    eventsInCausalOrder,
    localEvents: () => localEvents(),
    eventCount: () => [...heads.values()].reduce((n, h) => n + h.seq, 0),
    rebuild,
    baseFrontier: () => normalizeClock(base.frontier),
    baseRecords: {
      get: <T>(key: Key) => baseTable.get(key) as T | undefined,
      put: () => {
        throw new Error("the base is written by compaction only");
      },
      remove: () => {
        throw new Error("the base is written by compaction only");
      },
      entries: <T>(prefix: Key) => baseTable.range(prefix) as Iterable<{ key: Key; value: T }>,
    },
    compact,
    snapshot,
    dumpRecords: () => [...table.range([])].map(({ key, value }) => ({ key, value: plainView(value) })),
    async close() {
      if (closed) return;
      closed = true;
      if (pending.size > 0) {
        try {
          checkpoint();
        } catch {
          // The next open folds these events again.
        }
      }
      await cache.close();
      await root.close();
      await lock.release();
    },
  };
}

/** The author's clock now, as a plain object with its devices in the given (canonical) order. */
function depsNow(devices: string[], headOf: (d: string) => Head | undefined): VectorClock {
  const deps: VectorClock = {};
  for (const d of devices) {
    const h = headOf(d);
    if (h) deps[d] = h.seq;
  }
  return deps;
}

function checkTime(time: number): void {
  if (!Number.isSafeInteger(time) || time < 0 || time > MAX_TIME_MS) {
    throw new WalletError("clock-invalid", `event time ${String(time)} is not a time in ms between 1970 and 9999`);
  }
}

function initMeta(
  root: RootDatabase,
  getMeta: <T>(key: string) => T | undefined,
  putMeta: (key: string, v: unknown) => void,
  log: Database<Buffer, Key | string | number>,
  opts: StoreOptions,
  marker: Marker | undefined,
): { deviceId: string; rootSeed: Uint8Array } {
  const format = getMeta<{ name?: string; version?: number }>("format");
  if (format === undefined && marker !== undefined) throw damaged("meta format", `missing, but the marker names the wallet of device ${marker.deviceId}`);
  if (format === undefined) {
    if (hasForeignRootKey(root) || log.getKeysCount() > 0) throw foreignStore(opts.path);
    const deviceId = opts.deviceId ?? encodeCrock(randomBytes(10));
    const rootSeed = randomBytes(32);
    root.transactionSync(() => {
      putMeta("format", FORMAT);
      putMeta("deviceId", deviceId);
      putMeta("rootSeed", encodeCrock(rootSeed));
      putMeta("walletId", encodeCrock(randomBytes(16)));
    });
    return { deviceId, rootSeed };
  }
  if (format.name !== FORMAT.name) {
    throw new WalletError("store-foreign", `${opts.path} is not a wallet of this engine (format ${String(format.name)})`);
  }
  if (typeof format.version !== "number" || format.version > FORMAT.version) {
    throw new WalletError("store-version-unsupported", `wallet store format ${String(format.version)} is newer than this engine`);
  }
  if (format.version < FORMAT.version) {
    throw new WalletError("store-version-unsupported", `wallet store format ${format.version} predates this engine's format ${FORMAT.version}; export its events with the engine that wrote it`);
  }
  const deviceId = getMeta<string>("deviceId");
  if (typeof deviceId !== "string") throw damaged("meta deviceId", "missing");
  if (marker !== undefined && marker.deviceId !== deviceId) throw damaged("the wallet marker", `names device ${marker.deviceId}, but the store holds the wallet of ${deviceId}`);
  if (opts.deviceId !== undefined && opts.deviceId !== deviceId) {
    throw new WalletError("wallet-device-mismatch", `the wallet in ${opts.path} belongs to device ${deviceId}, not ${opts.deviceId}`);
  }
  return { deviceId, rootSeed: decodeSeed(getMeta<string>("rootSeed")) };
}

function decodeSeed(s: unknown): Uint8Array {
  if (typeof s !== "string") throw damaged("meta rootSeed", "missing");
  const bytes = decodeCrock(s);
  if (bytes.length !== 32) throw damaged("meta rootSeed", "not 32 bytes");
  return bytes;
}

// The event store on LMDB: one environment per wallet directory.
//
//   events   [device, seq] → WalletEvent       the shared log, keyed by dot
//   arrival  n → [device, seq]                  local arrival order (a causal order)
//   local    n → LocalEvent                     device-local events, own sequence
//   meta     string key → value                 format, device id, root seed, heads
//   proj     [table, ...key] → record           materialized projections
//
// Every write (own append, remote import, local event) goes through `write`,
// one LMDB write transaction that also evolves the projections: a crash leaves
// all of it or none of it. In-memory caches (heads, counters) are staged during
// the transaction and published only after the commit succeeded.
import { closeSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { WalletError } from "../errors.ts";
import { decodeCrock, encodeCrock } from "../codec/crockford.ts";
import { randomBytes } from "../codec/keys.ts";
import { isDeviceId, type VectorClock } from "./clock.ts";
import { scopeOf, type LocalDraft, type SharedDraft } from "./catalogue.ts";
import { eventHash, validatePayload, type LocalEvent, type SharedEvent, type WalletEvent } from "./envelope.ts";
import { createOverlay } from "./record-overlay.ts";
import type { Key, Projection, RecordChange, Records } from "./records.ts";

export type { Key, Projection, RecordChange, Records } from "./records.ts";

export interface Head {
  seq: number;
  hash: string;
  lamport: number;
}

const FORMAT = { name: "taler-wallet-engine", version: 1 } as const;

/** Bump when a projection's record layout or meaning changes: reopening then rebuilds. */
export const PROJECTION_VERSION = 4;

export interface StoreOptions {
  path: string;
  deviceId?: string;
  projections: Projection[];
  /** First key parts of the records whose changes `onCommit` reports. */
  trackChanges?: ReadonlySet<string>;
  /** Called after each committed write with the tracked records it changed. */
  onCommit?: (changes: RecordChange[]) => void;
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
  /** Appends an already-validated remote event whose predecessors are present. */
  appendRemote(e: SharedEvent, hash: string): void;
  appendLocal(draft: LocalDraft, time: number): LocalEvent;
  getEvent(device: string, seq: number): SharedEvent | undefined;
}

export interface Store {
  readonly deviceId: string;
  readonly rootSeed: Uint8Array;
  readonly path: string;
  readonly records: Records;
  /** Runs `fn` in one write transaction; throws (and writes nothing) when `fn` throws. */
  write<T>(fn: (tx: WriteTxn) => T): T;
  head(device: string): Head | undefined;
  clock(): VectorClock;
  getEvent(device: string, seq: number): SharedEvent | undefined;
  /** A device's events with seq in [from, to], ascending. */
  rangeOfDevice(device: string, from: number, to?: number): Iterable<SharedEvent>;
  /** All shared events in local arrival order (a causal order). */
  eventsInArrivalOrder(): Iterable<SharedEvent>;
  localEvents(): Iterable<LocalEvent>;
  eventCount(): number;
  /** Drops every projection record and folds the raw log again. */
  rebuild(): void;
  /** Every projection record, for comparisons (tests, rebuild checks). */
  dumpRecords(): { key: Key; value: unknown }[];
  close(): Promise<void>;
}

function recordsOver(db: Database): Records {
  return {
    get: <T>(key: Key) => db.get(key) as T | undefined,
    put: (key, value) => void db.put(key, value),
    remove: (key) => void db.remove(key),
    *entries<T>(prefix: Key) {
      for (const { key, value } of db.getRange({ start: prefix, end: [...prefix, "\uffff"] })) {
        yield { key: key as Key, value: value as T };
      }
    },
  };
}

function openEnv(path: string): RootDatabase {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new WalletError("store-open-failed", `cannot create wallet directory ${path}: ${(e as Error).message}`);
  }
  if (!statSync(path).isDirectory()) throw new WalletError("store-open-failed", `${path} is not a directory`);
  checkDataFile(join(path, "wallet.mdb"));
  try {
    // overlappingSync off: a committed transactionSync is on disk when it returns.
    return open({ path: join(path, "wallet.mdb"), overlappingSync: false, maxDbs: 12 });
  } catch (e) {
    throw new WalletError("store-corrupt", `cannot open the wallet store in ${path}: ${(e as Error).message}`);
  }
}

const LMDB_MAGIC = 0xbeefc0de;

/**
 * lmdb-js crashes the whole process (SIGSEGV) instead of throwing when it
 * cannot open a data file, so check what LMDB checks first: both meta pages
 * carry the magic (after the page header: 16 bytes in stock LMDB, 24 in the
 * lmdb-js fork), and the file holds every page the newer meta page names (a
 * truncated copy). LMDB has no page checksums: damage inside pages is not
 * detectable here. A missing or empty file is a new store.
 */
function checkDataFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new WalletError("store-open-failed", `cannot read ${file}: ${(e as Error).message}`);
  }
  const corrupt = (why: string) => new WalletError("store-corrupt", `${file} is not a usable LMDB data file: ${why}`);
  try {
    const size = statSync(file).size;
    if (size === 0) return;
    const read = (pos: number, len: number) => {
      const b = Buffer.alloc(len);
      return b.subarray(0, readSync(fd, b, 0, len, pos));
    };
    // Meta layout after the magic: version u32, address u64, mapsize u64, two 48-byte db records
    // (the first one's leading u32 is the page size), last page u64, txn id u64.
    const meta = (pos: number) => {
      const b = read(pos, 24 + 136);
      const base = [16, 24].find((o) => b.length >= o + 136 && b.readUInt32LE(o) === LMDB_MAGIC);
      if (base === undefined) return undefined;
      return { base, pageSize: b.readUInt32LE(base + 24), lastPage: b.readBigUInt64LE(base + 120), txn: b.readBigUInt64LE(base + 128) };
    };
    const m0 = meta(0);
    if (!m0) throw corrupt("no LMDB header (damaged or foreign)");
    const ps = m0.pageSize;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) !== 0) throw corrupt(`implausible page size ${ps}`);
    const m1 = meta(ps);
    if (!m1 || m1.base !== m0.base) throw corrupt("the second meta page is damaged");
    const last = m1.txn > m0.txn ? m1.lastPage : m0.lastPage;
    if ((last + 1n) * BigInt(ps) > BigInt(size)) throw corrupt(`truncated: ${size} bytes, pages up to ${last} expected`);
  } finally {
    closeSync(fd);
  }
}

/** Opens (or creates) the store of one wallet directory. */
export function openStore(opts: StoreOptions): Store {
  const root = openEnv(opts.path);
  let events: Database, arrival: Database, local: Database, meta: Database, proj: Database;
  try {
    events = root.openDB({ name: "events" });
    arrival = root.openDB({ name: "arrival" });
    local = root.openDB({ name: "local" });
    meta = root.openDB({ name: "meta" });
    proj = root.openDB({ name: "proj" });
  } catch (e) {
    void root.close();
    throw new WalletError("store-corrupt", `the wallet store in ${opts.path} is unreadable: ${(e as Error).message}`);
  }
  const projections = opts.projections;

  let deviceId: string;
  let rootSeed: Uint8Array;
  try {
    ({ deviceId, rootSeed } = initMeta(root, meta, events, opts));
  } catch (e) {
    void root.close();
    if (e instanceof WalletError) throw e;
    throw new WalletError("store-corrupt", `the wallet store in ${opts.path} is unreadable: ${(e as Error).message}`);
  }

  // Caches of facts that live in `meta`; staged per transaction.
  const heads = new Map<string, Head>();
  for (const { key, value } of meta.getRange({ start: ["head"], end: ["head", "\uffff"] })) {
    heads.set((key as Key)[1] as string, value as Head);
  }
  let maxLamport = (meta.get("lamport") as number | undefined) ?? 0;
  let arrivalNext = (meta.get("arrivalNext") as number | undefined) ?? 1;
  let localNext = (meta.get("localNext") as number | undefined) ?? 1;
  const records = recordsOver(proj);

  const clockOf = (hs: Map<string, Head>, staged?: Map<string, Head>): VectorClock => {
    const c: VectorClock = {};
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
  const table = {
    get: (key: Key) => proj.get(key),
    put: (key: Key, value: unknown) => void proj.put(key, value),
    remove: (key: Key) => void proj.remove(key),
    range: (prefix: Key) => records.entries(prefix),
  };

  let inWrite = false;

  function write<T>(fn: (tx: WriteTxn) => T): T {
    if (inWrite) throw new WalletError("store-reentrant", "a write transaction is already running");
    const staged = new Map<string, Head>();
    let lamport = maxLamport;
    let nextArrival = arrivalNext;
    let nextLocal = localNext;
    const headOf = (d: string) => staged.get(d) ?? heads.get(d);
    const overlay = createOverlay(table, opts.trackChanges ?? NO_TRACKING);

    const storeShared = (e: SharedEvent, hash: string) => {
      events.put([e.device, e.seq], e);
      arrival.put(nextArrival++, [e.device, e.seq]);
      const h: Head = { seq: e.seq, hash, lamport: e.lamport };
      staged.set(e.device, h);
      meta.put(["head", e.device], h);
      if (e.lamport > lamport) lamport = e.lamport;
      evolveShared(overlay.records, e);
    };

    const tx: WriteTxn = {
      records: overlay.records,
      deviceId,
      head: headOf,
      clock: () => clockOf(heads, staged),
      getEvent: (d, s) => events.get([d, s]) as SharedEvent | undefined,
      appendOwn(drafts, time) {
        const out: SharedEvent[] = [];
        for (const draft of drafts) {
          if (scopeOf(draft.type) !== "shared") {
            throw new WalletError("event-invalid", `${draft.type} is device-local; append it with appendLocal`);
          }
          validatePayload(draft.type, draft.data, "new event");
          const h = headOf(deviceId);
          const e = {
            device: deviceId,
            seq: (h?.seq ?? 0) + 1,
            lamport: lamport + 1,
            deps: clockOf(heads, staged),
            time,
            ...(h ? { prev: h.hash } : {}),
            type: draft.type,
            data: draft.data,
          } as SharedEvent;
          storeShared(e, eventHash(e as WalletEvent));
          out.push(e);
        }
        return out;
      },
      appendRemote: storeShared,
      appendLocal(draft, time) {
        if (scopeOf(draft.type) !== "local") {
          throw new WalletError("event-invalid", `${draft.type} is shared; append it with appendOwn`);
        }
        validatePayload(draft.type, draft.data, "new local event");
        const e = { n: nextLocal++, time, ...draft } as LocalEvent;
        local.put(e.n, e);
        evolveLocal(overlay.records, e);
        return e;
      },
    };

    inWrite = true;
    let result: T;
    let changes: RecordChange[] = [];
    try {
      result = root.transactionSync(() => {
        const r = fn(tx);
        overlay.flush();
        changes = overlay.changes();
        meta.put("lamport", lamport);
        meta.put("arrivalNext", nextArrival);
        meta.put("localNext", nextLocal);
        return r;
      });
    } finally {
      inWrite = false;
    }
    for (const [d, h] of staged) heads.set(d, h);
    maxLamport = lamport;
    arrivalNext = nextArrival;
    localNext = nextLocal;
    opts.onCommit?.(changes);
    return result;
  }

  function* eventsInArrivalOrder(): Iterable<SharedEvent> {
    for (const { value } of arrival.getRange({})) {
      const [d, s] = value as [string, number];
      yield events.get([d, s]) as SharedEvent;
    }
  }

  function* localEvents(): Iterable<LocalEvent> {
    for (const { value } of local.getRange({})) yield value as LocalEvent;
  }

  function rebuild() {
    root.transactionSync(() => {
      for (const key of [...proj.getKeys({})]) proj.remove(key);
      for (const e of eventsInArrivalOrder()) evolveShared(records, e);
      for (const e of localEvents()) evolveLocal(records, e);
      meta.put("projectionVersion", PROJECTION_VERSION);
    });
  }

  if (meta.get("projectionVersion") !== PROJECTION_VERSION) rebuild();

  return {
    deviceId,
    rootSeed,
    path: opts.path,
    records,
    write,
    head: (d) => heads.get(d),
    clock: () => clockOf(heads),
    getEvent: (d, s) => events.get([d, s]) as SharedEvent | undefined,
    *rangeOfDevice(d, from, to) {
      // The range end is exclusive.
      const end = to === undefined ? Number.MAX_SAFE_INTEGER : to + 1;
      for (const { value } of events.getRange({ start: [d, from], end: [d, end] })) yield value as SharedEvent;
    },
    eventsInArrivalOrder,
    localEvents,
    eventCount: () => arrivalNext - 1,
    rebuild,
    dumpRecords: () => [...proj.getRange({})].map(({ key, value }) => ({ key: key as Key, value })),
    close: () => root.close(),
  };
}

function initMeta(
  root: RootDatabase,
  meta: Database,
  events: Database,
  opts: StoreOptions,
): { deviceId: string; rootSeed: Uint8Array } {
  const format = meta.get("format") as { name?: string; version?: number } | undefined;
  if (format === undefined) {
    // Named databases are keys of the root database: any other key belongs to someone else.
    const names = new Set<unknown>(["events", "arrival", "local", "meta", "proj"]);
    const foreignRootKey = [...root.getKeys({})].some((k) => !names.has(k));
    if (foreignRootKey || events.getKeysCount() > 0 || meta.getKeysCount() > 0) {
      throw new WalletError("store-foreign", `${opts.path} holds an LMDB store that is not a wallet of this engine`);
    }
    if (opts.deviceId !== undefined && !isDeviceId(opts.deviceId)) {
      throw new WalletError("device-id-invalid", `device id must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(opts.deviceId)}`);
    }
    const deviceId = opts.deviceId ?? encodeCrock(randomBytes(10));
    const rootSeed = randomBytes(32);
    root.transactionSync(() => {
      meta.put("format", FORMAT);
      meta.put("deviceId", deviceId);
      meta.put("rootSeed", encodeCrock(rootSeed));
    });
    return { deviceId, rootSeed };
  }
  if (format.name !== FORMAT.name) {
    throw new WalletError("store-foreign", `${opts.path} is not a wallet of this engine (format ${String(format.name)})`);
  }
  if (typeof format.version !== "number" || format.version > FORMAT.version) {
    throw new WalletError("store-version-unsupported", `wallet store format ${String(format.version)} is newer than this engine`);
  }
  const deviceId = meta.get("deviceId") as string;
  if (opts.deviceId !== undefined && opts.deviceId !== deviceId) {
    throw new WalletError(
      "wallet-device-mismatch",
      `the wallet in ${opts.path} belongs to device ${deviceId}, not ${opts.deviceId}`,
    );
  }
  const seed = meta.get("rootSeed") as string;
  return { deviceId, rootSeed: decodeSeed(seed) };
}

function decodeSeed(s: unknown): Uint8Array {
  if (typeof s !== "string") throw new WalletError("store-corrupt", "the stored wallet root seed is missing");
  const bytes = decodeCrock(s);
  if (bytes.length !== 32) throw new WalletError("store-corrupt", "the stored wallet root seed is not 32 bytes");
  return bytes;
}

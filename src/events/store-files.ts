// The files of a wallet directory, checked before LMDB touches them:
//
//   wallet.mdb        LMDB data file: the log, device-local events, meta, the base
//   wallet.mdb-lock   LMDB's reader table
//   projections.mdb   LMDB data file of the projection records, a cache of the
//                     fold of wallet.mdb (and its -lock); rebuilt when missing
//   WALLET            our marker: this directory holds a wallet (device id, format)
//
// lmdb-js crashes the whole process (SIGSEGV or SIGBUS) instead of throwing
// on some damaged or truncated data files, so what can be checked cheaply is
// checked here, and the rest by verifyStore in a child process.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { WalletError } from "../errors.ts";
import { asStoreError } from "./store-errors.ts";

export const DATA_FILE = "wallet.mdb";
/**
 * The projection records live in an environment of their own: a checkpoint
 * rewrites leaves all over the coin tree and frees as many pages, and in the
 * log's file LMDB's free list then cost every later durable commit in
 * proportion to its length.
 */
export const PROJECTIONS_FILE = "projections.mdb";
export const MARKER_FILE = "WALLET";

export interface Marker {
  format: string;
  deviceId: string;
}

/** Creates the directory if missing; refuses a path that is not a directory. */
export function ensureDirectory(path: string): void {
  // Node refuses such a path with an argument error before asking the file system.
  if (path.includes("\0")) throw new WalletError("store-open-failed", `a wallet path cannot hold a NUL character: ${JSON.stringify(path)}`);
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    const why = causeOf(path, e);
    if (why !== undefined) {
      const code = (why as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTDIR") throw new WalletError("store-open-failed", `${path} is not a directory (or lies below a file)`);
      throw asStoreError(why, `cannot create wallet directory ${path}`);
    }
  }
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw asStoreError(e, `cannot read wallet directory ${path}`);
  }
  if (!st.isDirectory()) throw new WalletError("store-open-failed", `${path} is not a directory`);
}

/**
 * Node's recursive mkdir says ENOENT for failures such as EROFS or EACCES
 * below an existing parent; a plain mkdir names the cause (or succeeds, and
 * there is no failure).
 */
function causeOf(path: string, e: unknown): unknown {
  if ((e as NodeJS.ErrnoException).code !== "ENOENT") return e;
  try {
    mkdirSync(path);
    return undefined;
  } catch (plain) {
    return (plain as NodeJS.ErrnoException).code === "ENOENT" ? e : plain;
  }
}

export function readMarker(dir: string): Marker | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MARKER_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw asStoreError(e, `cannot read ${join(dir, MARKER_FILE)}`);
  }
  try {
    const m = JSON.parse(text) as Marker;
    if (typeof m.format === "string" && typeof m.deviceId === "string") return m;
  } catch {
    // fall through: a marker we cannot read still says a wallet lived here
  }
  throw new WalletError("store-corrupt", `${join(dir, MARKER_FILE)} is damaged`);
}

/** Writes the marker durably (temp file, fsync, rename): it must never be half there. */
export function writeMarker(dir: string, m: Marker): void {
  const tmp = join(dir, `${MARKER_FILE}.tmp`);
  try {
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, JSON.stringify(m));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, MARKER_FILE));
  } catch (e) {
    throw asStoreError(e, `cannot write ${join(dir, MARKER_FILE)}`);
  }
}

/** Size of the data file, or undefined when it does not exist. */
export function dataFileSize(dir: string): number | undefined {
  try {
    const st = statSync(join(dir, DATA_FILE));
    if (!st.isFile()) throw new WalletError("store-corrupt", `${join(dir, DATA_FILE)} is not a file`);
    return st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw asStoreError(e, `cannot read ${join(dir, DATA_FILE)}`);
  }
}

/** The lock file LMDB keeps beside a data file must be a file (a directory there crashes lmdb). */
export function checkLockFile(dir: string, dataFile = DATA_FILE): void {
  try {
    const st = statSync(join(dir, `${dataFile}-lock`));
    if (!st.isFile()) throw new WalletError("store-corrupt", `${join(dir, `${dataFile}-lock`)} is not a file`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw asStoreError(e, `cannot read ${join(dir, `${dataFile}-lock`)}`);
  }
}

const LMDB_MAGIC = 0xbeefc0de;
const NO_PAGE = 0xffffffffffffffffn;

/**
 * What LMDB checks first, checked here without crashing: both meta pages carry
 * the magic (after the page header: 16 bytes in stock LMDB, 24 in the lmdb-js
 * fork), the page size is plausible and the same in both, their transaction
 * ids are consecutive, each meta page's root pages lie inside the file and up
 * to its last page (a file cut short below them would make lmdb-js fault), and
 * its last page inside its map size (a damaged one makes a writer hang or
 * fault). The file may legitimately end before the meta page's last page
 * (LMDB's own comment: the free list can hold the final pages), so that is not
 * checked. Damage inside pages is for verifyStore.
 */
export function checkDataFile(dir: string, dataFile = DATA_FILE): void {
  const file = join(dir, dataFile);
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw asStoreError(e, `cannot read ${file}`);
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
    // (free db at +24, main db at +72; a db record's u32 at +0 is the page size in the free db,
    // its root page u64 at +40), last page u64 at +120, txn id u64 at +128.
    const meta = (pos: number) => {
      const b = read(pos, 24 + 136);
      const base = [16, 24].find((o) => b.length >= o + 136 && b.readUInt32LE(o) === LMDB_MAGIC);
      if (base === undefined) return undefined;
      return {
        base,
        mapSize: b.readBigUInt64LE(base + 16),
        pageSize: b.readUInt32LE(base + 24),
        roots: [b.readBigUInt64LE(base + 24 + 40), b.readBigUInt64LE(base + 72 + 40)],
        last: b.readBigUInt64LE(base + 120),
        txn: b.readBigUInt64LE(base + 128),
      };
    };
    const m0 = meta(0);
    if (!m0) throw corrupt("no LMDB header (damaged or foreign)");
    const ps = m0.pageSize;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) !== 0) throw corrupt(`implausible page size ${ps}`);
    const m1 = meta(ps);
    if (!m1 || m1.base !== m0.base) throw corrupt("the second meta page is damaged");
    if (m1.pageSize !== ps) throw corrupt(`the meta pages disagree on the page size (${ps}, ${m1.pageSize})`);
    // Each commit writes transaction t into meta page t & 1, so the two pages hold t and t − 1 (both 0 in a
    // new file; 0 and an odd t in a compacted copy). Any other pair is a damaged id, and LMDB would serve
    // whichever page it now finds newer: an older state, silently.
    const [lo, hi] = m0.txn < m1.txn ? [m0.txn, m1.txn] : [m1.txn, m0.txn];
    if (hi - lo !== 1n && lo !== 0n) throw corrupt(`the meta pages' transaction ids ${m0.txn} and ${m1.txn} are not consecutive`);
    // Transaction 0 is only ever LMDB's initial meta page (a new file, or page 0 of a compacted copy): no roots.
    for (const [i, m] of [m0, m1].entries()) {
      if (m.txn === 0n && (m.roots.some((r) => r !== NO_PAGE) || m.last > 1n)) throw corrupt(`meta page ${i} has transaction id 0 but holds a tree`);
    }
    // Both meta pages, not only the newer one: a writer opening the file uses the older one too, and a
    // damaged root or last page there hangs or crashes lmdb-js (SIGBUS) instead of being refused.
    for (const [i, m] of [m0, m1].entries()) {
      for (const root of m.roots) {
        if (root === NO_PAGE) continue;
        if ((root + 1n) * BigInt(ps) > BigInt(size)) throw corrupt(`truncated: ${size} bytes, a root page ${root} (meta page ${i}) lies beyond the end`);
        if (root > m.last) throw corrupt(`meta page ${i}: root page ${root} lies beyond its last page ${m.last}`);
      }
      // LMDB grows its map before it allocates a page, and records the map size with the pages.
      if ((m.last + 1n) * BigInt(ps) > m.mapSize) throw corrupt(`meta page ${i}: last page ${m.last} lies beyond its map of ${m.mapSize} bytes`);
    }
  } finally {
    closeSync(fd);
  }
}

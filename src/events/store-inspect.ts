// A full walk of a wallet store, read-only: every value's checksum, every
// event's envelope and hash chain, every record's decoding, and the
// projections against a fold of the log. It may meet pages so damaged that
// lmdb-js crashes the process: run it in a child process (verifyStore does).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import { isWalletError } from "../errors.ts";
import { seqOf } from "./clock.ts";
import { validateSharedEvent, type LocalEvent, type SharedEvent } from "./envelope.ts";
import { canonicalEventText, hashOfBytes } from "./event-codec.ts";
import { keyId, memoryRecords, plainView, tablesOf, type Key, type Projection } from "./records.ts";
import { unseal, unsealJson } from "./sealed-value.ts";
import { checkDataFile, checkLockFile, DATA_FILE, dataFileSize, PROJECTIONS_FILE, readMarker } from "./store-files.ts";
import { PROJECTION_VERSION } from "./store.ts";

export interface InspectReport {
  ok: boolean;
  /** What is wrong, one line each (the first 100). */
  problems: string[];
  events: number;
  records: number;
}

const MAX_PROBLEMS = 100;
const DATABASES = ["local", "log", "meta"] as const;
/** "base": opened (so created) by every engine since compaction. "proj": where projections lived before projections.mdb. */
const OPTIONAL_DATABASES = ["base", "proj"] as const;

/** Walks the store in `dir` and reports what is damaged; never writes. */
export async function inspectStore(dir: string, projections: Projection[]): Promise<InspectReport> {
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const report = (events: number, records: number): InspectReport => ({ ok: problems.length === 0, problems, events, records });
  const attempt = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      problem(`${what}: ${isWalletError(e) ? e.message : (e as Error).message}`);
      return undefined;
    }
  };

  const marker = attempt("marker", () => readMarker(dir));
  const size = attempt("data file", () => dataFileSize(dir));
  if (size === undefined || size === 0) {
    problem(marker ? `${DATA_FILE} is ${size === undefined ? "missing" : "empty"} beside the wallet marker` : `no wallet in ${dir}`);
    return report(0, 0);
  }
  attempt("lock file", () => checkLockFile(dir));
  attempt("data file", () => checkDataFile(dir));
  if (problems.length > 0) return report(0, 0);

  // The projections' cache: checked against the log when it is there and this engine's; otherwise the next open folds it anew.
  const cacheThere = existsSync(join(dir, PROJECTIONS_FILE));
  if (cacheThere) {
    attempt("projections lock file", () => checkLockFile(dir, PROJECTIONS_FILE));
    attempt("projections file", () => checkDataFile(dir, PROJECTIONS_FILE));
    if (problems.length > 0) return report(0, 0);
  }
  const env = open({ path: join(dir, DATA_FILE), readOnly: true, encoding: "binary", maxDbs: 8 });
  const cacheEnv = cacheThere ? open({ path: join(dir, PROJECTIONS_FILE), readOnly: true, encoding: "binary", maxDbs: 8 }) : undefined;
  try {
    // The named databases are the root's only keys. A damaged root page can show another tree instead,
    // whose walk would find nothing wrong because it finds nothing at all.
    const names = attempt("the root database", () => [...env.getKeys({})]) ?? [];
    for (const n of names) if (![...DATABASES, ...OPTIONAL_DATABASES].includes(n as never)) problem(`the root database holds ${JSON.stringify(n)}, which is not a database of a wallet`);
    for (const n of DATABASES) if (!names.includes(n)) problem(`the root database lacks the ${n} database`);
    if (problems.length > 0) return report(0, 0);

    const db = (name: string) => env.openDB({ name, encoding: "binary" });
    const meta = db("meta");
    const log = db("log");
    const local = db("local");
    const cacheDb = (name: string) => cacheEnv?.openDB({ name, encoding: "binary" });
    const proj = cacheDb("proj");
    const cacheFacts = new Map<string, unknown>();
    for (const { key, value } of cacheDb("meta")?.getRange({}) ?? []) {
      cacheFacts.set(String(key), attempt(`projections meta ${JSON.stringify(key)}`, () => unsealJson<unknown>(value, `cache:${String(key)}`, `projections meta ${JSON.stringify(key)}`)));
    }
    const baseDb = names.includes("base") ? db("base") : undefined;
    const tables = tablesOf(projections);

    const heads = new Map<string, { seq: number; hash: string; lamport: number }>();
    const facts = new Map<string, unknown>();
    for (const { key, value } of meta.getRange({})) {
      const tag = typeof key === "string" ? `meta:${key}` : `meta:${keyId(key as Key)}`;
      const v = attempt(`meta ${JSON.stringify(key)}`, () => unsealJson<unknown>(value, tag, `meta ${JSON.stringify(key)}`));
      if (Array.isArray(key) && key[0] === "head" && v !== undefined) heads.set(key[1] as string, v as { seq: number; hash: string; lamport: number });
      if (typeof key === "string") facts.set(key, v);
    }
    const format = facts.get("format") as { name?: unknown; version?: unknown } | undefined;
    if (format?.name !== "taler-wallet-engine" || typeof format.version !== "number") problem(`meta "format" is ${JSON.stringify(format)}, not this engine's`);
    const deviceId = facts.get("deviceId");
    if (typeof deviceId !== "string") problem(`meta "deviceId" is missing`);
    else if (marker && marker.deviceId !== deviceId) problem(`the store belongs to device ${deviceId}, the wallet marker names ${marker.deviceId}`);
    if (typeof facts.get("rootSeed") !== "string") problem(`meta "rootSeed" is missing`);
    // The base: events at or below its frontier may be folded into its records instead of held.
    const baseMeta = (facts.get("base") as { frontier?: [string, number][]; heads?: [string, string, number][] } | undefined) ?? {};
    const frontier = new Map(baseMeta.frontier ?? []);
    const baseHeads = new Map((baseMeta.heads ?? []).map(([d, hash, lamport]) => [d, { seq: frontier.get(d) ?? 0, hash, lamport }]));
    const covered = (d: string, s: number) => s <= (frontier.get(d) ?? 0);

    // The log, device by device in seq order: dense, chained, canonical, valid, ending at the recorded head.
    const lamports = new Map<string, number[]>();
    const events: SharedEvent[] = [];
    let expected: { device: string; seq: number; prev?: string } | undefined;
    for (const { key, value } of log.getRange({})) {
      const [d, s] = key as [string, number];
      const where = `event ${d}:${s}`;
      if (!expected || expected.device !== d) {
        if (expected) closeDevice(expected);
        // A device's log may start above 1 where the base holds what came before: then it chains to the base's head.
        expected = s > 1 && covered(d, s - 1) ? { device: d, seq: s, prev: (frontier.get(d) === s - 1 ? baseHeads.get(d)?.hash : undefined) ?? "(not checkable)" } : { device: d, seq: 1 };
      }
      // The log may also resume above a stretch the base holds (a snapshot adopted above the events it had).
      if (s > expected.seq && covered(d, s - 1)) expected = { device: d, seq: s, prev: (frontier.get(d) === s - 1 ? baseHeads.get(d)?.hash : undefined) ?? "(not checkable)" };
      if (s !== expected.seq) problem(`${where}: expected ${d}:${expected.seq} (the log of ${d} has a gap)`);
      const bytes = attempt(where, () => unseal(value, `log:${d}:${s}`, where));
      if (!bytes) {
        expected = { device: d, seq: s + 1 };
        continue;
      }
      const e = attempt(where, () => validateSharedEvent(JSON.parse(bytes.toString("utf8")), where));
      if (!e) {
        expected = { device: d, seq: s + 1 };
        continue;
      }
      if (e.device !== d || e.seq !== s) problem(`${where}: holds ${e.device}:${e.seq}`);
      if (canonicalEventText(e) !== bytes.toString("utf8")) problem(`${where}: is not stored in canonical form`);
      if (e.prev !== expected.prev && expected.prev !== "(not checkable)") problem(`${where}: does not chain to ${d}:${s - 1}`);
      let ls = lamports.get(d);
      if (!ls) lamports.set(d, (ls = []));
      ls[s] = e.lamport;
      events.push(e);
      expected = { device: d, seq: s + 1, prev: hashOfBytes(bytes) };
    }
    if (expected) closeDevice(expected);
    function closeDevice(x: { device: string; seq: number; prev?: string }) {
      const h = heads.get(x.device);
      if (!h) problem(`the log holds events of ${x.device}, which has no recorded head`);
      else if (h.seq > x.seq - 1 && covered(x.device, h.seq)) {
        // The log stops below a head the base holds: it must be the base's head.
        const b = baseHeads.get(x.device);
        if (!b || b.seq !== h.seq || b.hash !== h.hash) problem(`the head of ${x.device} (${h.seq}) is neither its newest event nor the base's head`);
      } else if (h.seq !== x.seq - 1 || h.hash !== x.prev) problem(`the log of ${x.device} ends at ${x.seq - 1}, but its head says ${h.seq}`);
    }
    for (const [d, h] of heads) {
      const b = baseHeads.get(d);
      if (!lamports.has(d) && !(b && b.seq === h.seq && b.hash === h.hash)) problem(`the head of ${d} names events neither the log nor the base holds`);
    }
    for (const e of events) {
      for (const [d, s] of Object.entries(e.deps)) {
        const l = lamports.get(d)?.[s];
        if (l === undefined && covered(d, s)) continue;
        if (l === undefined) problem(`event ${e.device}:${e.seq}: depends on ${d}:${s}, which the log does not hold`);
        else if (e.lamport <= l) problem(`event ${e.device}:${e.seq}: lamport not above its dependency ${d}:${s}`);
      }
    }

    const localEvents: LocalEvent[] = [];
    for (const { key, value } of local.getRange({})) {
      const e = attempt(`local event ${String(key)}`, () => unsealJson<LocalEvent>(value, `local:${String(key)}`, `local event ${String(key)}`));
      if (e) localEvents.push(e);
    }

    // The stored projections, decoded; then a fold of the log, which they must equal. A cache of another
    // wallet or layout, or one never written, is not compared: the next open folds it again.
    const stored: { key: Key; value: unknown }[] = [];
    const current = cacheFacts.get("projectionVersion") === PROJECTION_VERSION && cacheFacts.get("owner") === facts.get("walletId") && cacheFacts.has("projected");
    for (const { key, value } of current ? proj!.getRange({}) : []) {
      const k = key as Key;
      const where = `record ${JSON.stringify(k)}`;
      const codec = tables[k[0] as string];
      if (!codec) {
        problem(`${where}: of a table no projection owns`);
        continue;
      }
      const v = attempt(where, () => plainView(codec.decode(unsealJson(value, keyId(k), where), k)));
      if (v !== undefined) stored.push({ key: k, value: v });
    }
    if (problems.length === 0 && current) {
      const fold = memoryRecords(tables);
      for (const { key, value } of baseDb?.getRange({}) ?? []) {
        const k = key as Key;
        const where = `base record ${JSON.stringify(k)}`;
        const codec = tables[k[0] as string];
        if (!codec || codec.local) {
          problem(`${where}: of a table that is not shared state`);
          continue;
        }
        const v = attempt(where, () => codec.decode(unsealJson(value, keyId(k), where), k));
        // Base-only facts are not projections: the stored projections never hold them.
        if (v !== undefined && !codec.baseOnly) fold.put(k, v);
      }
      events.sort((a, b) => a.lamport - b.lamport || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
      // The stored records are folded up to the "projected" clock; what a crash left above it is folded again at the next open.
      const projected = cacheFacts.get("projected") as { clock?: Record<string, number>; localNext?: number } | undefined;
      const folded = (d: string, s: number) => projected?.clock === undefined || s <= seqOf(projected.clock, d);
      const localFolded = (n: number) => projected?.localNext === undefined || n < projected.localNext;
      attempt("fold of the log", () => {
        for (const e of events) if (!covered(e.device, e.seq) && folded(e.device, e.seq)) for (const p of projections) p.evolveShared?.(fold, e);
        for (const e of localEvents) if (localFolded(e.n)) for (const p of projections) p.evolveLocal?.(fold, e);
      });
      const want = fold.dump();
      const a = new Map(stored.map((r) => [keyId(r.key), JSON.stringify(r.value)]));
      const b = new Map(want.map((r) => [keyId(r.key), JSON.stringify(r.value)]));
      for (const [k, v] of b) if (a.get(k) !== v) problem(`record ${k.replaceAll("\u0000", "/")}: differs from a fold of the log`);
      for (const k of a.keys()) if (!b.has(k)) problem(`record ${k.replaceAll("\u0000", "/")}: is not implied by the log`);
    }
    return report(events.length, stored.length);
  } finally {
    await cacheEnv?.close();
    await env.close();
  }
}

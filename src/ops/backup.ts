// Backups: the plain content (a projection), the encrypted TLRWBK01 file,
// import (a merge like importEvents, never a replace), recovery, and this
// device's list of backup providers.
//
// Over handleRequest, bytes travel as standard base64: exportBackupEncrypted
// answers the file as a base64 string, and importBackupEncrypted takes that
// string (or, in process, a Uint8Array) as its whole payload, or as `backup`
// of `{ backup, walletRootPriv?, maxPlainBytes? }` when it needs options. The
// typed methods take and return Uint8Array.
import { encodeCrock } from "../codec/crockford.ts";
import { canonicalJson } from "../codec/canonical-json.ts";
import { eddsaPublicFromSeed } from "../codec/keys.ts";
import type { EngineContext } from "../engine/context.ts";
import { operation } from "../engine/operation.ts";
import { baseUrl, nothing, object, oneOf, optional, required, type Parser } from "../engine/request.ts";
import { isErrorCode, thrownText, WalletError } from "../errors.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { isDeviceId, join, seqOf, type VectorClock } from "../events/clock.ts";
import type { Records } from "../events/records.ts";
import type { Snapshot, WriteTxn } from "../events/store.ts";
import { learn, stableFrontier } from "../merge/frontier.ts";
import { importInto, type ImportResult } from "../merge/log-merge.ts";
import { importSnapshotAndTail } from "../merge/snapshot-merge.ts";
import { knownDevices } from "../projections/devices.ts";
import { getBackupProvider, listBackupProviders, type SyncTerms } from "../projections/backup-providers.ts";
import { buildBackupContent, type BackupContent } from "../backup/content.ts";
import { readBackupContent } from "../backup/content-reader.ts";
import { noteArrivals } from "./log.ts";
import { decryptBackupBytes, encryptBackupBytes, parseBackupJson } from "../backup/file.ts";
import { decodeWalletRootPriv } from "../backup/keys.ts";
import type { DecodedLog } from "../backup/log-codec.ts";
import { parseRecovery, planRecovery, recoveryOf, type BackupRecovery, type ParsedRecovery, type RecoveryStrategy } from "../backup/recovery.ts";
import { deriveSyncAccountKey, syncDownload, syncGetConfig } from "../transport/sync-client.ts";

export interface RecoveryResult {
  /** What loading did: adopted the recovered key, kept ours, or the key was already this wallet's. */
  strategy: RecoveryStrategy | "same-key";
  /** Events the recovered backups added to this wallet's log, and those it held already. */
  added: number;
  known: number;
}

/** Events handed to one importInto call: a decoded backup streams through in pieces this size, all in one transaction. */
const IMPORT_CHUNK = 50_000;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Bytes: a Uint8Array from typed callers, standard base64 over handleRequest. */
const bytes: Parser<Uint8Array> = (v, path) => {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string" && v.length % 4 === 0 && BASE64.test(v)) return new Uint8Array(Buffer.from(v, "base64"));
  throw new WalletError("request-invalid", `${path} must be the backup's bytes (a Uint8Array, or standard base64 over handleRequest)`, { path });
};

const count: Parser<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new WalletError("request-invalid", `${path} must be a non-negative integer`, { path });
  return v;
};

const rootPriv: Parser<Uint8Array> = (v) => decodeWalletRootPriv(v);

export interface ImportEncryptedRequest {
  backup: Uint8Array;
  walletRootPriv?: Uint8Array;
  maxPlainBytes?: number;
}

const importEncryptedOptions = object({ backup: required(bytes), walletRootPriv: optional(rootPriv), maxPlainBytes: optional(count) });

/** The file alone (bytes or base64), or the file with options. */
const importEncryptedRequest: Parser<ImportEncryptedRequest> = (v, path) =>
  v instanceof Uint8Array || typeof v === "string" ? { backup: bytes(v, path) } : importEncryptedOptions(v, path);
const anything: Parser<unknown> = (v) => v;
const recovery: Parser<ParsedRecovery> = (v, path) => parseRecovery(v, path, baseUrl);

const rootPubOf = (seed: Uint8Array) => encodeCrock(eddsaPublicFromSeed(seed));

/**
 * The stable frontier of what this wallet knows (merge/frontier.ts): from the
 * log, each device held its newest event's causal past; from merged backups,
 * the clocks they declared. Devices not heard from for the configured time
 * are retired from it.
 */
export function stableFrontierOf(ctx: EngineContext): { frontier: VectorClock; retired: string[] } {
  const known = knownDevices(ctx.records);
  const clock = ctx.store.clock();
  for (const d of Object.keys(clock)) {
    if (d === ctx.store.deviceId) continue;
    const e = ctx.store.getEvent(d, clock[d]);
    // A device known only from a snapshot: the base's head is all this wallet saw of it.
    const held: VectorClock = e ? { ...e.deps, [d]: e.seq } : { [d]: clock[d] };
    learn(known, d, { clock: held, heardAt: e?.time ?? 0 });
  }
  return stableFrontier({ self: ctx.store.deviceId, clock, known, now: ctx.now(), retireAfterMs: ctx.config.retireDevicesAfterMs });
}

/**
 * Folds the events every known device holds into the base (compaction), so a
 * backup carries them as a snapshot rather than one by one, once there are at
 * least `compactBackupsAbove` of them beyond the base: small wallets keep
 * their whole log in their backups (and a restored device its history). The
 * base only moves up.
 */
function compactToStableFrontier(ctx: EngineContext): void {
  const base = ctx.store.baseFrontier();
  const target = join(base, stableFrontierOf(ctx).frontier);
  let gain = 0;
  for (const d of Object.keys(target)) gain += target[d] - seqOf(base, d);
  if (gain > 0 && gain >= ctx.config.compactBackupsAbove) ctx.store.compact(target);
}

function exportContent(ctx: EngineContext): BackupContent {
  compactToStableFrontier(ctx);
  const frontier = ctx.store.baseFrontier();
  const snapshot = Object.keys(frontier).length > 0 ? ctx.store.snapshot() : undefined;
  return buildBackupContent(ctx.store, { walletRootPub: rootPubOf(ctx.store.rootSeed), deviceId: ctx.store.deviceId, timestampMs: ctx.now() }, snapshot);
}

/**
 * Merges a decoded log inside `tx`, a chunk at a time in causal order, the
 * snapshot first when the backup carries one (adopted only by a wallet that
 * lacks events below its frontier); throws (writing nothing) on any bad event.
 */
function importLog(tx: WriteTxn, log: DecodedLog, snapshot?: Snapshot): ImportResult {
  let added = 0;
  let known = 0;
  let chunk: WalletEvent[] = [];
  let first = true;
  const flush = () => {
    const r = first ? importSnapshotAndTail(tx, snapshot, chunk) : importInto(tx, chunk);
    first = false;
    added += r.added;
    known += r.known;
    chunk = [];
  };
  // The log is decoded lazily from the host's object: a getter or Proxy trap that throws is a bad backup.
  const events = log.events()[Symbol.iterator]();
  for (;;) {
    let next: IteratorResult<WalletEvent>;
    try {
      next = events.next();
    } catch (err) {
      throw unreadable(err);
    }
    if (next.done) break;
    chunk.push(next.value);
    if (chunk.length >= IMPORT_CHUNK) flush();
  }
  if (chunk.length > 0 || first) flush();
  return { added, known };
}

/** What a host's backup object threw when read, as the refusal of a malformed backup. */
function unreadable(err: unknown): WalletError {
  return err instanceof WalletError ? err : new WalletError("backup-content-invalid", `the backup could not be read: ${thrownText(err)}`);
}

function importBackup(ctx: EngineContext, content: unknown): ImportResult & { clocks: VectorClock } {
  let read: ReturnType<typeof readBackupContent>;
  try {
    read = readBackupContent(content);
  } catch (err) {
    throw unreadable(err);
  }
  const at = ctx.now();
  const result = ctx.write((tx) => {
    const before = tx.clock();
    const r = importLog(tx, read.log, read.snapshot);
    noteArrivals(tx, before, at);
    // What its device held when it wrote this backup: where the stable frontier comes from.
    if (read.deviceId !== tx.deviceId && isDeviceId(read.deviceId) && Object.keys(read.clocks).length > 0) {
      tx.appendLocal({ type: "device-knowledge-learned", data: { device: read.deviceId, clock: read.clocks } }, at);
    }
    return r;
  });
  if (result.added > 0) ctx.emit({ type: "events-imported", added: result.added, known: result.known });
  return { ...result, clocks: read.clocks };
}

/** This wallet's backup as a TLRWBK01 file (what a sync cycle uploads). */
export function exportBackupFile(ctx: EngineContext): Uint8Array {
  return encryptBackupBytes(canonicalJson(exportContent(ctx)), ctx.store.rootSeed);
}

/**
 * Decrypts a TLRWBK01 file with `seed` (default: this wallet's root key) and
 * merges it (what a sync cycle does with a provider's newer backup). Atomic.
 */
export function mergeBackupFile(
  ctx: EngineContext,
  file: Uint8Array,
  opts: { seed?: Uint8Array; maxPlainBytes?: number } = {},
): ImportResult & { clocks: VectorClock } {
  const text = decryptBackupBytes(file, opts.seed ?? ctx.store.rootSeed, { maxPlainBytes: opts.maxPlainBytes });
  return importBackup(ctx, parseBackupJson(text));
}

/**
 * Reads each provider's /config (a URL that is not a sync provider refuses the recovery, as
 * addBackupProvider refuses it), then downloads and decrypts what `seed` holds there; any failure
 * refuses the whole recovery.
 */
async function recoveredLogs(ctx: EngineContext, rec: ParsedRecovery): Promise<{ logs: { log: DecodedLog; snapshot?: Snapshot }[]; terms: Map<string, SyncTerms> }> {
  const logs: { log: DecodedLog; snapshot?: Snapshot }[] = [];
  const terms = new Map<string, SyncTerms>();
  for (const url of rec.providers) {
    const cfg = await syncGetConfig(ctx.http, url, { timeoutMs: ctx.config.httpTimeoutMs, signal: ctx.signal });
    ctx.ensureOpen();
    if (cfg.kind === "error") {
      throw new WalletError(isErrorCode(cfg.code) ? cfg.code : "sync-not-a-provider", `recovery: ${url} is not usable as a backup provider: ${cfg.message}`, { url });
    }
    terms.set(url, { version: cfg.version, storageLimitInMegabytes: cfg.storageLimitInMegabytes, annualFee: cfg.annualFee });
    const account = deriveSyncAccountKey(rec.seed, url);
    const r = await syncDownload(ctx.http, url, account.seed, { timeoutMs: ctx.config.httpTimeoutMs, signal: ctx.signal });
    ctx.ensureOpen();
    if (r.kind === "none") continue;
    if (r.kind === "error") {
      throw new WalletError(isErrorCode(r.code) ? r.code : "sync-http-error", `recovery: the backup at ${url} could not be fetched: ${r.message}`, { url });
    }
    const read = readBackupContent(parseBackupJson(decryptBackupBytes(r.blob, rec.seed)));
    logs.push({ log: read.log, snapshot: read.snapshot });
  }
  return { logs, terms };
}

export const backupOperations = {
  /** The plain backup content (canonical JSON object; see src/backup/content.ts). */
  exportBackupPlain: operation(nothing, (ctx): BackupContent => exportContent(ctx)),

  /** The TLRWBK01 file of the plain backup, encrypted with this wallet's root key. */
  exportBackupEncrypted: operation(
    nothing,
    (ctx): Uint8Array => exportBackupFile(ctx),
    (file) => Buffer.from(file.buffer, file.byteOffset, file.byteLength).toString("base64"),
  ),

  /** Merges a plain backup's log (atomic; the view in it is not read). */
  importBackupPlain: operation(anything, (ctx, content): ImportResult => {
    const { added, known } = importBackup(ctx, content);
    return { added, known };
  }),

  /**
   * Decrypts a TLRWBK01 file (with this wallet's root key, or `walletRootPriv`)
   * and merges its log. `maxPlainBytes` bounds the inflated JSON (gzip bombs).
   */
  importBackupEncrypted: operation(
    importEncryptedRequest,
    (ctx, req): ImportResult => {
      const { added, known } = mergeBackupFile(ctx, req.backup, { seed: req.walletRootPriv, maxPlainBytes: req.maxPlainBytes });
      return { added, known };
    },
  ),

  /** The recovery secret: this wallet's root key and its active providers. */
  getBackupRecovery: operation(nothing, (ctx): BackupRecovery =>
    recoveryOf(
      ctx.store.rootSeed,
      listBackupProviders(ctx.records)
        .filter((p) => p.active)
        .map((p) => p.url),
    ),
  ),

  /**
   * Loads a recovery: merges what its key decrypts at its providers, and with
   * strategy "theirs" adopts its key and providers (src/backup/recovery.ts).
   * Downloads come first; the merge, the key and the providers then commit
   * in one transaction, or nothing does.
   */
  loadBackupRecovery: operation(
    object({ recovery: required(recovery), strategy: optional(oneOf("theirs", "ours")) }),
    async (ctx, req): Promise<RecoveryResult> => {
      const planNow = (records: Records) =>
        planRecovery({ ownSeed: ctx.store.rootSeed, recoveredSeed: req.recovery.seed, strategy: req.strategy, providerCount: listBackupProviders(records).length });
      // Refused before any download when it would be refused anyway.
      planNow(ctx.records);
      const { logs, terms } = await recoveredLogs(ctx, req.recovery);
      const at = ctx.now();
      const result = ctx.write((tx) => {
        // Again, on what the wallet is now: during the downloads it may have gained a provider, or another key.
        const plan = planNow(tx.records);
        // A key no named provider knows is most likely mistyped: adopting it would back up where no one looks.
        if (plan.kind !== "same-key" && req.recovery.providers.length > 0 && logs.length === 0) {
          throw new WalletError("backup-recovery-not-found", `none of the ${req.recovery.providers.length} provider(s) the recovery names holds a backup under its key`, {
            providers: req.recovery.providers,
          });
        }
        let added = 0;
        let known = 0;
        for (const log of logs) {
          const r = importLog(tx, log.log, log.snapshot);
          added += r.added;
          known += r.known;
        }
        // Every provider account is derived from the root key: after a switch, the sync
        // state of each provider (last hash, last time) belongs to the old accounts.
        if (plan.kind === "theirs") {
          tx.replaceRootSeed(req.recovery.seed);
          tx.appendLocal({ type: "wallet-root-key-replaced", data: { walletRootPub: rootPubOf(req.recovery.seed) } }, at);
        }
        // "ours" keeps this wallet's providers: the recovered ones hold the recovered key's accounts.
        if (plan.kind !== "ours") {
          for (const url of req.recovery.providers) {
            if (!getBackupProvider(tx.records, url)) tx.appendLocal({ type: "backup-provider-added", data: { url, active: true, terms: terms.get(url) } }, at);
          }
        }
        return { kind: plan.kind, added, known };
      });
      if (result.added > 0) ctx.emit({ type: "events-imported", added: result.added, known: result.known });
      return { strategy: result.kind, added: result.added, known: result.known };
    },
  ),
};

// Sync: this device's backup providers (Taler sync services) and the backup
// cycle with each of them (DESIGN.md, "The sync protocol").
//
// A cycle never loses a local event: it only exports and merges, and what a
// provider answered is recorded as a device-local event (backup-uploaded,
// backup-upload-failed, backup-payment-required) folded into the provider's
// record (src/projections/backup-providers.ts).
import { encodeCrock } from "../codec/crockford.ts";
import { eddsaPublicFromSeed } from "../codec/keys.ts";
import type { EngineContext } from "../engine/context.ts";
import { operation } from "../engine/operation.ts";
import { baseUrl, boolean, maybe, nothing, object, optional, required } from "../engine/request.ts";
import { isErrorCode, WalletError, type ErrorCode } from "../errors.ts";
import { leq, type VectorClock } from "../events/clock.ts";
import {
  getBackupProvider,
  listBackupProviders,
  type BackupProviderRecord,
  type SyncTerms,
} from "../projections/backup-providers.ts";
import { deriveSyncAccountKey, syncDownload, syncGetConfig, syncUpload } from "../transport/sync-client.ts";
import { exportBackupFile, mergeBackupFile } from "./backup.ts";

/** Uploads that lose to another device's in one cycle before the provider is left for the next. */
export const MAX_CONFLICT_ROUNDS = 8;

/** What one provider's cycle came to. */
export type BackupCycleOutcome =
  /** A new backup is stored there. */
  | "stored"
  /** What the provider holds already has everything this device has: nothing uploaded. */
  | "unchanged"
  | "payment-required"
  | "failed"
  /** Skipped: inactive, or backing off after a failure (until `retryAt`). */
  | "skipped";

export interface BackupCycleProviderResult {
  syncProviderBaseUrl: string;
  outcome: BackupCycleOutcome;
  /** Events the provider's newer backups added to this wallet. */
  merged: number;
  /** Uploads this cycle made there (a lost compare-and-swap makes another). */
  uploads: number;
  error?: { code: string; message: string };
  /** With outcome "payment-required": the `taler://pay/…` URI the provider asks to be paid with. */
  talerUri?: string;
}

export interface BackupCycleResult {
  providers: BackupCycleProviderResult[];
}

export interface BackupProviderInfo {
  active: boolean;
  syncProviderBaseUrl: string;
  terms?: SyncTerms;
  lastBackupHash?: string;
  /** When this device last recorded a backup there (ms since the epoch): stored it, or found one holding everything it has. */
  lastBackupTimestamp?: number;
  lastError?: { code: string; message: string; httpStatus?: number };
  /** After a failure or a 402: cycles leave the provider alone until then (ms), unless forced. */
  retryAt?: number;
  paymentRequired?: { talerUri: string };
}

export interface BackupInfo {
  walletRootPub: string;
  deviceId: string;
  lastLocalClock: VectorClock;
  providers: BackupProviderInfo[];
}

function infoOf(p: BackupProviderRecord): BackupProviderInfo {
  const out: BackupProviderInfo = { active: p.active, syncProviderBaseUrl: p.url };
  if (p.terms) out.terms = p.terms;
  if (p.lastBackupHash !== undefined) out.lastBackupHash = p.lastBackupHash;
  if (p.lastBackupTimestamp !== undefined) out.lastBackupTimestamp = p.lastBackupTimestamp;
  if (p.lastError) out.lastError = p.lastError;
  if (p.retryAt !== undefined) out.retryAt = p.retryAt;
  if (p.paymentRequired) out.paymentRequired = p.paymentRequired;
  return out;
}

class CycleFailure {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly httpStatus?: number,
  ) {}
}

function failureOf(e: unknown): CycleFailure {
  if (e instanceof WalletError) return new CycleFailure(e.code, e.message);
  throw e;
}

/**
 * One provider: export → upload with If-Match = the last known hash; a 409
 * merges the provider's backup and tries again against its hash. When the
 * last backup stored there already held everything this device has, it only
 * asks whether another device stored a newer one (and merges it), so quiet
 * devices do not upload forever.
 */
async function cycleWith(ctx: EngineContext, p: BackupProviderRecord): Promise<BackupCycleProviderResult> {
  const url = p.url;
  const seed = ctx.store.rootSeed;
  const account = deriveSyncAccountKey(seed, url);
  // A recovery with strategy "theirs" may switch the root key while this cycle waits on the network:
  // the account, the export's key and the merge's key must stay one, so the cycle then stops there.
  const keyChanged = () => !Buffer.from(ctx.store.rootSeed).equals(Buffer.from(seed));
  const afterAwait = (): boolean => {
    ctx.ensureOpen();
    return keyChanged();
  };
  const stopped = (): BackupCycleProviderResult => ({ ...result, outcome: "skipped" });
  const opts = { timeoutMs: ctx.config.httpTimeoutMs, signal: ctx.signal };
  const result: BackupCycleProviderResult = { syncProviderBaseUrl: url, outcome: "unchanged", merged: 0, uploads: 0 };
  let ifMatch = p.lastBackupHash;
  // What the backup at `ifMatch` holds, when this device knows it.
  let held = p.lastBackupClock;
  let downloaded = false;

  const record = (hash: string, clock: VectorClock) => ctx.appendLocal({ type: "backup-uploaded", data: { url, hash, clock } }, ctx.now());
  const merge = (blob: Uint8Array) => {
    const m = mergeBackupFile(ctx, blob, { seed });
    result.merged += m.added;
    return m.clocks;
  };

  try {
    for (let round = 0; round <= MAX_CONFLICT_ROUNDS; round++) {
      ctx.ensureOpen();
      const mine = ctx.store.clock();
      if (ifMatch !== undefined && held !== undefined && leq(mine, held)) {
        if (!downloaded) {
          // Nothing new here since that backup: has another device stored a newer one?
          // Asked conditionally: a provider still holding it answers 304 without sending it again.
          downloaded = true;
          const d = await syncDownload(ctx.http, url, account.seed, { ...opts, ifNoneMatch: ifMatch });
          if (afterAwait()) return stopped();
          if (d.kind === "error") throw new CycleFailure(d.code, d.message, d.httpStatus);
          if (d.kind === "none") {
            // The provider lost the account (a reset, a new server): store it again.
            ifMatch = undefined;
            held = undefined;
            continue;
          }
          if (d.kind === "ok" && d.hash !== ifMatch) {
            held = merge(d.blob);
            ifMatch = d.hash;
            continue;
          }
        }
        // Recorded when it is news, and when it ends a run of failures (which only a recorded success clears).
        const news = ifMatch !== p.lastBackupHash || !sameClock(held, p.lastBackupClock);
        if (news || p.failures > 0 || p.lastError !== undefined || p.retryAt !== undefined || p.paymentRequired !== undefined) record(ifMatch, held);
        result.outcome = "unchanged";
        return done(ctx, result);
      }

      const file = exportBackupFile(ctx);
      result.uploads++;
      const r = await syncUpload(ctx.http, url, account.seed, file, { ...opts, ifMatch });
      if (afterAwait()) return stopped();
      switch (r.kind) {
        case "stored":
        case "not-modified":
          record(r.hash, mine);
          result.outcome = "stored";
          return done(ctx, result);
        case "conflict":
          held = merge(r.blob);
          ifMatch = r.hash;
          downloaded = true;
          continue;
        case "payment-required":
          ctx.appendLocal({ type: "backup-payment-required", data: { url, talerUri: r.talerUri } }, ctx.now());
          result.outcome = "payment-required";
          result.talerUri = r.talerUri;
          ctx.emit({ type: "backup-payment-required", syncProviderBaseUrl: url, talerUri: r.talerUri });
          return result;
        case "error":
          if (r.code === "sync-previous-backup-unknown" && ifMatch !== undefined) {
            // The provider no longer holds the backup we replace: the next round stores ours as its first.
            ifMatch = undefined;
            held = undefined;
            continue;
          }
          throw new CycleFailure(r.code, r.message, r.httpStatus);
        default:
          return assertNever(r);
      }
    }
    throw new CycleFailure("sync-conflicts-exhausted", `${url}: did not settle within ${MAX_CONFLICT_ROUNDS + 1} rounds (other devices kept storing newer backups); trying again next cycle`);
  } catch (caught) {
    // A refusal on our side (an export too large, a backup that cannot be read) is this provider's failure too,
    // recorded and backed off like the provider's own; a closing wallet and bugs propagate.
    const e = caught instanceof WalletError && caught.code !== "wallet-closed" ? failureOf(caught) : caught;
    if (!(e instanceof CycleFailure)) throw e;
    const data: { url: string; code: string; message: string; httpStatus?: number } = { url, code: e.code, message: e.message };
    if (e.httpStatus !== undefined) data.httpStatus = e.httpStatus;
    ctx.ensureOpen();
    ctx.appendLocal({ type: "backup-upload-failed", data }, ctx.now());
    result.outcome = "failed";
    result.error = { code: e.code, message: e.message };
    ctx.emit({ type: "backup-failed", syncProviderBaseUrl: url, error: result.error });
    return result;
  }
}

function done(ctx: EngineContext, r: BackupCycleProviderResult): BackupCycleProviderResult {
  ctx.emit(
    r.outcome === "stored"
      ? { type: "backup-stored", syncProviderBaseUrl: r.syncProviderBaseUrl, merged: r.merged }
      : { type: "backup-unchanged", syncProviderBaseUrl: r.syncProviderBaseUrl, merged: r.merged },
  );
  return r;
}

function sameClock(a: VectorClock | undefined, b: VectorClock | undefined): boolean {
  return a !== undefined && b !== undefined && leq(a, b) && leq(b, a);
}

function assertNever(x: never): never {
  throw new Error(`unexpected upload result ${JSON.stringify(x)}`);
}

const syncCode = (code: string): ErrorCode => (isErrorCode(code) ? code : "sync-not-a-provider");

export const syncOperations = {
  /**
   * Adds a backup provider to this device (inactive unless `activate`) after
   * reading its /config: anything that does not answer as a Taler sync
   * service is refused. Adding one again changes only `activate`.
   */
  addBackupProvider: operation(
    object({ backupProviderBaseUrl: required(baseUrl), activate: optional(boolean) }),
    async (ctx, req): Promise<void> => {
      const url = req.backupProviderBaseUrl;
      const existing = getBackupProvider(ctx.records, url);
      if (existing) {
        const active = req.activate ?? existing.active;
        if (existing.active !== active) ctx.appendLocal({ type: "backup-provider-added", data: { url, active } }, ctx.now());
        return;
      }
      const cfg = await syncGetConfig(ctx.http, url, { timeoutMs: ctx.config.httpTimeoutMs, signal: ctx.signal });
      ctx.ensureOpen();
      if (cfg.kind === "error") {
        throw new WalletError(syncCode(cfg.code), `${url} cannot be added as a backup provider: ${cfg.message}`, { url });
      }
      const terms: SyncTerms = { version: cfg.version, storageLimitInMegabytes: cfg.storageLimitInMegabytes, annualFee: cfg.annualFee };
      const at = ctx.now();
      ctx.write((tx) => {
        // Decided again: another add of this provider may have committed while /config was awaited.
        const now = getBackupProvider(tx.records, url);
        if (now) {
          const active = req.activate ?? now.active;
          if (now.active !== active) tx.appendLocal({ type: "backup-provider-added", data: { url, active } }, at);
        } else {
          tx.appendLocal({ type: "backup-provider-added", data: { url, active: req.activate ?? false, terms } }, at);
        }
      });
    },
  ),

  removeBackupProvider: operation(object({ backupProviderBaseUrl: required(baseUrl) }), (ctx, req): void => {
    const url = req.backupProviderBaseUrl;
    if (!getBackupProvider(ctx.records, url)) throw new WalletError("backup-provider-unknown", `no backup provider ${url} on this device`, { url });
    ctx.appendLocal({ type: "backup-provider-removed", data: { url } }, ctx.now());
  }),

  /** This device's backup identity and every provider's state. */
  getBackupInfo: operation(
    nothing,
    (ctx): BackupInfo => ({
      walletRootPub: encodeCrock(eddsaPublicFromSeed(ctx.store.rootSeed)),
      deviceId: ctx.store.deviceId,
      lastLocalClock: ctx.store.clock(),
      providers: listBackupProviders(ctx.records).map(infoOf),
    }),
  ),

  /**
   * One backup cycle with every active provider, one after the other: merge
   * what other devices stored, store this device's backup. A provider backing
   * off after a failure is skipped until its `retryAt` unless `force`. Failures
   * are recorded on the provider (getBackupInfo), not thrown.
   */
  runBackupCycle: operation(
    maybe(object({ force: optional(boolean) })),
    async (ctx, req): Promise<BackupCycleResult> => {
      const out: BackupCycleResult = { providers: [] };
      for (const { url } of listBackupProviders(ctx.records)) {
        // Read again for each: an earlier provider's cycle awaited the network, and this one may have changed meanwhile.
        const p = getBackupProvider(ctx.records, url);
        if (!p) continue;
        const waiting = p.retryAt !== undefined && p.retryAt > ctx.now() && req.force !== true;
        if (!p.active || waiting) {
          out.providers.push({ syncProviderBaseUrl: p.url, outcome: "skipped", merged: 0, uploads: 0 });
          continue;
        }
        out.providers.push(await cycleWith(ctx, p));
      }
      return out;
    },
  ),
};

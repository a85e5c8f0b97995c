// The typed facade: each method is one call into the operations table, so
// typed callers and handleRequest share one validation path.
import type { BackupCycleResult, BackupInfo } from "./ops/sync.ts";
import type { VectorClock } from "./events/clock.ts";
import type { WalletEvent } from "./events/envelope.ts";
import type { Key } from "./events/records.ts";
import { openEngine, type OpenWalletOptions, type ResponseEnvelope } from "./engine/engine.ts";
import { operations } from "./ops/index.ts";
import type { NotificationListener } from "./engine/notifications.ts";
import type { ImportResult } from "./merge/log-merge.ts";
import type { Balance, CoinInfo, Conflict } from "./ops/coins.ts";
import type { PendingUpdatesReport } from "./ops/exchange-updates.ts";
import type { ExchangeTos } from "./ops/exchanges.ts";
import type { RecordRefreshRequest, RecordSpendRequest, RecordWithdrawalRequest } from "./projections/coins.ts";
import type { ExchangeEntryStatus, ExchangeListItem } from "./projections/exchanges.ts";
import type { ExchangeResources } from "./projections/resources.ts";
import type { Transaction } from "./projections/transactions.ts";
import type { BackupContent } from "./backup/content.ts";
import type { BackupRecovery, RecoveryStrategy } from "./backup/recovery.ts";
import type { RecoveryResult } from "./ops/backup.ts";

export type { OpenWalletOptions, ResponseEnvelope };
export type { Balance, CoinInfo, Conflict, ExchangeTos, PendingUpdatesReport, RecoveryResult };

/** The wallet engine of one device. Every method may reject with a WalletError. */
export interface Wallet {
  readonly deviceId: string;
  /** Crockford Ed25519 public key of this wallet's root. */
  readonly walletRootPub: string;

  /** Adds an exchange (ephemeral, or preset); adding again is a no-op, except that a user's add (no `preset`) lifts a preset to ephemeral, as DD 48 has addExchange do. */
  addExchange(req: { exchangeBaseUrl: string; preset?: boolean }): Promise<void>;
  /** Fetches /keys and /terms and records the outcome. */
  updateExchange(req: { exchangeBaseUrl: string; force?: boolean }): Promise<ExchangeListItem>;
  /** Exchanges sorted by base URL, optionally of one entry status. */
  listExchanges(req?: { filterByExchangeEntryStatus?: ExchangeEntryStatus }): Promise<{ exchanges: ExchangeListItem[] }>;
  getExchangeEntryByUrl(req: { exchangeBaseUrl: string }): Promise<ExchangeListItem>;
  /** Live coins with value left and pending withdrawal groups of an exchange. */
  getExchangeResources(req: { exchangeBaseUrl: string }): Promise<ExchangeResources>;
  /** Deletes an exchange; refused while it holds resources unless `purge`. */
  deleteExchange(req: { exchangeBaseUrl: string; purge?: boolean }): Promise<void>;
  /** Downloads the terms of service and records the etag on offer. */
  getExchangeTos(req: { exchangeBaseUrl: string; acceptLanguage?: string | string[]; acceptFormat?: string | string[] }): Promise<ExchangeTos>;
  setExchangeTosAccepted(req: { exchangeBaseUrl: string; etag: string }): Promise<void>;
  setExchangeTosForgotten(req: { exchangeBaseUrl: string }): Promise<void>;
  setExchangeSuspended(req: { exchangeBaseUrl: string; suspended: boolean }): Promise<void>;
  /** Contacts used exchanges that are due, retries failed ones with backoff, collects stale ephemeral ones. */
  runPendingUpdates(req?: { now?: number }): Promise<PendingUpdatesReport>;

  recordWithdrawal(req: RecordWithdrawalRequest): Promise<{ withdrawalGroupId: string }>;
  recordSpend(req: RecordSpendRequest): Promise<{ spendId: string }>;
  recordRefresh(req: RecordRefreshRequest): Promise<{ refreshGroupId: string }>;
  abortWithdrawal(req: { withdrawalGroupId: string }): Promise<void>;
  getBalances(): Promise<{ balances: Balance[] }>;
  listConflicts(): Promise<{ conflicts: Conflict[] }>;
  getCoin(req: { coinPub: string }): Promise<CoinInfo>;
  /** Withdrawals, spends, refreshes and aborted withdrawals of every device, newest first. */
  getTransactions(req?: { currency?: string; exchangeBaseUrl?: string }): Promise<{ transactions: Transaction[] }>;

  getVectorClock(): Promise<VectorClock>;
  /**
   * Shared events not covered by `since`, in causal order; with `limit`, only the first
   * `limit` of them. A page is causally closed, so paging is: import it, then ask again
   * with `since` set to the importer's new vector clock.
   */
  exportEvents(req?: { since?: VectorClock; limit?: number }): Promise<WalletEvent[]>;
  /** Set union with causal delivery; atomic: a bad event adds nothing and says which. */
  importEvents(events: WalletEvent[]): Promise<ImportResult>;

  /** The plain backup: canonical JSON content with the shared log and a Taler-shaped view (src/backup/content.ts). */
  exportBackupPlain(): Promise<BackupContent>;
  /** The plain backup as a TLRWBK01 file, encrypted with the wallet root key. */
  exportBackupEncrypted(): Promise<Uint8Array>;
  /** Merges a plain backup's log, like importEvents; atomic, and never replaces anything. */
  importBackupPlain(content: unknown): Promise<ImportResult>;
  /** Decrypts a TLRWBK01 file (this wallet's key, or `walletRootPriv`) and merges its log. */
  importBackupEncrypted(backup: Uint8Array, opts?: { walletRootPriv?: string; maxPlainBytes?: number }): Promise<ImportResult>;
  /** The recovery secret: the wallet root key and the active backup providers. */
  getBackupRecovery(): Promise<BackupRecovery>;
  /** Loads a recovery: "theirs" adopts its root key, "ours" keeps this one; both merge what it decrypts at its providers. */
  loadBackupRecovery(req: { recovery: BackupRecovery; strategy?: RecoveryStrategy }): Promise<RecoveryResult>;
  /** Adds a sync provider after reading its /config (inactive unless `activate`); a non-sync server is refused. */
  addBackupProvider(req: { backupProviderBaseUrl: string; activate?: boolean }): Promise<void>;
  removeBackupProvider(req: { backupProviderBaseUrl: string }): Promise<void>;
  /** This device's backup identity, clock, and each provider's last cycle outcome. */
  getBackupInfo(): Promise<BackupInfo>;
  /**
   * One backup cycle with each active provider: merge what other devices stored,
   * store ours (compare-and-swap, retried after a 409). Failures are recorded on
   * the provider, not thrown; `force` also tries providers still backing off.
   */
  runBackupCycle(req?: { force?: boolean }): Promise<BackupCycleResult>;

  /** Drops the materialized projections and folds them again from the log. */
  rebuild(): Promise<void>;
  /** Every projection record (for diagnostics and rebuild checks). */
  dumpProjections(): Promise<{ key: Key; value: unknown }[]>;

  /** One entry point for hosts: an operation name, a request id and a JSON payload; never rejects. */
  handleRequest(operation: string, id: string, payload: unknown): Promise<ResponseEnvelope>;
  /** Calls `fn` after each commit that changed what it reports; returns the unsubscribe function. */
  addNotificationListener(fn: NotificationListener): () => void;
  /** Waits for requests in flight (network waits are cut short), then closes; later requests fail with wallet-closed. */
  close(): Promise<void>;
}

/** Opens (creating if needed) the wallet stored in `options.path`. */
export async function openWallet(options: OpenWalletOptions): Promise<Wallet> {
  const engine = await openEngine(options, operations);
  const { call } = engine;
  return {
    deviceId: engine.deviceId,
    get walletRootPub() {
      return engine.walletRootPub;
    },
    addExchange: (req) => call("addExchange", req),
    updateExchange: (req) => call("updateExchange", req),
    listExchanges: (req) => call("listExchanges", req),
    getExchangeEntryByUrl: (req) => call("getExchangeEntryByUrl", req),
    getExchangeResources: (req) => call("getExchangeResources", req),
    deleteExchange: (req) => call("deleteExchange", req),
    getExchangeTos: (req) => call("getExchangeTos", req),
    setExchangeTosAccepted: (req) => call("setExchangeTosAccepted", req),
    setExchangeTosForgotten: (req) => call("setExchangeTosForgotten", req),
    setExchangeSuspended: (req) => call("setExchangeSuspended", req),
    runPendingUpdates: (req) => call("runPendingUpdates", req),
    recordWithdrawal: (req) => call("recordWithdrawal", req),
    recordSpend: (req) => call("recordSpend", req),
    recordRefresh: (req) => call("recordRefresh", req),
    abortWithdrawal: (req) => call("abortWithdrawal", req),
    getBalances: () => call("getBalances", undefined),
    listConflicts: () => call("listConflicts", undefined),
    getCoin: (req) => call("getCoin", req),
    getTransactions: (req) => call("getTransactions", req),
    getVectorClock: () => call("getVectorClock", undefined),
    exportEvents: (req) => call("exportEvents", req),
    importEvents: (events) => call("importEvents", events),
    exportBackupPlain: () => call("exportBackupPlain", undefined),
    exportBackupEncrypted: () => call("exportBackupEncrypted", undefined),
    importBackupPlain: (content) => call("importBackupPlain", content),
    importBackupEncrypted: (backup, opts) => call("importBackupEncrypted", { ...opts, backup }),
    getBackupRecovery: () => call("getBackupRecovery", undefined),
    loadBackupRecovery: (req) => call("loadBackupRecovery", req),
    addBackupProvider: (req) => call("addBackupProvider", req),
    removeBackupProvider: (req) => call("removeBackupProvider", req),
    getBackupInfo: () => call("getBackupInfo", undefined),
    runBackupCycle: (req) => call("runBackupCycle", req),
    rebuild: () => call("rebuild", undefined),
    dumpProjections: () => call("dumpProjections", undefined),
    handleRequest: engine.handleRequest,
    addNotificationListener: engine.addNotificationListener,
    close: engine.close,
  };
}

// The public API of the wallet engine (see CONTRACT.md).
export { openWallet } from "./wallet.ts";
export type {
  Balance,
  CoinInfo,
  Conflict,
  ExchangeTos,
  OpenWalletOptions,
  PendingUpdatesReport,
  RecoveryResult,
  Wallet,
} from "./wallet.ts";
export { WalletError, isWalletError } from "./errors.ts";
export { verifyStore, type VerifyStoreOptions, type VerifyStoreResult } from "./engine/verify-store.ts";
export type { WalletEvent } from "./events/envelope.ts";
export { catalogue, type EventType } from "./events/catalogue.ts";
export type {
  ExchangeEntryStatus,
  ExchangeListItem,
  ExchangeTosStatus,
  ExchangeUpdateStatus,
} from "./projections/exchanges.ts";
export type { RecordRefreshRequest, RecordSpendRequest, RecordWithdrawalRequest } from "./projections/coins.ts";
export type { ImportResult } from "./merge/log-merge.ts";
export type { VectorClock } from "./events/clock.ts";

// Encodings and crypto, byte-exact with GNU Taler.
export { encodeCrock, decodeCrock } from "./codec/crockford.ts";
export { kdf } from "./codec/kdf.ts";
export { canonicalJson } from "./codec/canonical-json.ts";
export { sha512 } from "./codec/hash.ts";
export { eddsaPublicFromSeed, eddsaSign, eddsaVerify } from "./codec/keys.ts";
export {
  amountAdd,
  amountCmp,
  amountSub,
  normalizeAmount,
  parseAmount,
  formatAmount,
  type Amount,
  type AmountString,
} from "./codec/amounts.ts";
export { canonicalizeBaseUrl } from "./codec/url.ts";

// Exchange transport. The test exchange lives in the separate testing entry (src/testing/index.ts).
export {
  ENGINE_EXCHANGE_PROTOCOL_VERSION,
  isProtocolCompatible,
  type HttpClient,
  type KeysFacts,
} from "./transport/exchange-client.ts";

// The encrypted backup file (TLRWBK01), byte-compatible with GNU Taler.
export { decryptBackupFile, encryptBackupBytes, decryptBackupBytes, deriveBlobSecret } from "./backup/file.ts";
export type { BackupFileErrorCode, DecryptBackupOptions, EncryptBackupOptions, GzipImplementation } from "./backup/file.ts";

// The plain backup content: built from a wallet's records and log, read back to the events it holds.
export { BACKUP_SCHEMA_ID, BACKUP_SCHEMA_VERSION, buildBackupContent } from "./backup/content.ts";
export type {
  BackupCoin,
  BackupContent,
  BackupDenomination,
  BackupExchange,
  BackupIdentity,
  BackupSource,
  BackupTombstone,
  BackupWithdrawalGroup,
} from "./backup/content.ts";
export { readBackupContent, type ReadBackup } from "./backup/content-reader.ts";
export type { DecodedLog, EncodedLog } from "./backup/log-codec.ts";
export { unpackStrings, type PackedRun, type PackedStrings } from "./backup/string-table.ts";
export type { BackupRecovery, RecoveryStrategy } from "./backup/recovery.ts";
export type { BackupCycleOutcome, BackupCycleProviderResult, BackupCycleResult, BackupInfo, BackupProviderInfo } from "./ops/sync.ts";
export type { SyncTerms } from "./projections/backup-providers.ts";

// Sync provider (a GNU Taler compatible backup server) and the transport-level sync client.
export {
  startSyncServer,
  SyncErrorCode,
  type SyncServer,
  type SyncServerOptions,
} from "./transport/sync-server.ts";
export {
  deriveSyncAccountKey,
  syncDownload,
  syncGetConfig,
  syncSignaturePayload,
  syncUpload,
  SYNC_PURPOSE_BACKUP_UPLOAD,
  type SyncAccountKey,
  type SyncBackup,
  type SyncClientError,
  type SyncConfigResult,
  type SyncDownloadResult,
  type SyncConditionalDownloadResult,
  type SyncProviderConfig,
  type SyncRequestOptions,
  type SyncUploadResult,
} from "./transport/sync-client.ts";

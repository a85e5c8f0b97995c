/**
 * Every code a WalletError can carry, each with what it means. The code is the
 * contract (hosts switch on it); messages are for people and may change.
 */
/** A host-given value for an error message: strings quoted, numbers as they are, anything else by its type (no toString is called). */
export function describeValue(v: unknown): string {
  return typeof v === "number" ? String(v) : typeof v === "string" ? JSON.stringify(v) : typeof v;
}

/** A string for any value a host passes or throws: `String` itself throws for an object without toString. */
export function asText(v: unknown): string {
  if (typeof v === "string") return v;
  try {
    return String(v);
  } catch {
    return typeof v;
  }
}

/**
 * What a thrown value says, for an error message: an Error's message with its cause's (fetch puts the
 * network's reason there), anything else as text. Never throws, whatever a host's function threw.
 */
export function thrownText(e: unknown): string {
  try {
    if (e instanceof Error) {
      const cause = (e as { cause?: unknown }).cause;
      return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
    }
  } catch {
    // a throwing getter on a host's error object: its text below
  }
  return asText(e);
}

export const ERROR_CODES = {
  // Requests
  "request-invalid": "a request is malformed: a field is missing, of the wrong type or out of range",
  "request-too-large": "a field is longer, or a list holds more items, than the engine takes (an id or URL becomes an LMDB key: at most 1,978 bytes)",
  "operation-unknown": "handleRequest was given an operation name the engine does not have",
  "url-invalid": "a base URL is not an http(s) URL without credentials, query or fragment",
  "amount-invalid": 'an amount is not "CUR:V[.F]" with at most 8 fraction digits and V ≤ 2^52, or is zero where value is needed',
  "amount-overflow": "a sum of amounts passes 2^52",
  "amount-negative": "a difference of amounts would be negative",
  "currency-mismatch": "amounts, coins or an exchange of different currencies were combined",
  "device-id-invalid": "a device id does not match [A-Za-z0-9_-]{1,64} or is a reserved name",
  "clock-invalid": "the host clock gave a time outside 0 … year 9999, or a vector clock is malformed",
  "wallet-closed": "the wallet was closed; open it again",
  "wallet-device-mismatch": "the wallet directory belongs to another device id than the one asked for",

  // Exchanges (DD 48)
  "exchange-unknown": "no exchange with that base URL in this wallet",
  "exchange-suspended": "the exchange is suspended; unsuspend it first",
  "exchange-has-resources": "the exchange still holds coins or pending withdrawals; delete with purge",
  "exchange-timeout": "the exchange did not answer in time",
  "exchange-network-error": "the exchange could not be reached",
  "exchange-http-error": "the exchange answered with an HTTP error status",
  "exchange-malformed-response": "the exchange answered with something that is not JSON",
  "exchange-response-too-large": "the exchange's answer is larger than the engine reads (/keys 16 MiB, /terms 4 MiB)",
  "exchange-keys-invalid": "/keys lacks a field the engine needs, or has one of the wrong type",
  "exchange-terms-invalid": "/terms answered without an ETag or Taler-Terms-Version, or with one longer than 512 bytes",
  "exchange-version-incompatible": "the exchange speaks a protocol version this engine cannot",
  "exchange-master-pub-changed": "the exchange advertises another master public key than the one recorded",
  "exchange-denominations-expired": "the exchange offers no denomination that can still be withdrawn",

  // Coins
  "coin-unknown": "no live coin with that public key in this wallet",
  "coin-duplicate": "a coin with that public key was recorded before",
  "coin-overspent": "the spend is larger than what the coin has left on this device",
  "spend-duplicate": "the spend id was recorded before with another amount",
  "refresh-unbalanced": "a refresh would create more value than it consumes",
  "withdrawal-group-unknown": "no withdrawal group with that id",
  "withdrawal-group-mismatch": "the withdrawal group belongs to another exchange",
  "withdrawal-group-aborted": "the withdrawal group was aborted",
  "withdrawal-group-purged": "the withdrawal group was removed by a purge of its exchange (deleteExchange with purge); use a new group id",

  // Events and merge
  "event-invalid": "an event's envelope or payload does not match the catalogue",
  "event-unknown-type": "an event has a type the catalogue does not know",
  "event-local-not-shareable": "a device-local event was offered for import",
  "event-inconsistent": "an event contradicts the log (a coin created twice, a spend of an unknown coin …)",
  "import-own-device": "an imported event claims to be authored by this device",
  "import-missing-deps": "an imported event depends on an event neither held nor in the batch",
  "import-broken-chain": "an imported event does not chain to its device's previous event",
  "import-equivocation": "two different events claim one dot",
  "snapshot-invalid": "a snapshot's frontier, heads or records are malformed",
  "snapshot-inconsistent": "a snapshot disagrees with the log: another event under one of its head dots, or a tail that does not chain to it",
  "snapshot-incomparable": "a snapshot stops below the wallet's own base where the wallet holds the events in between only folded into that base (two snapshots neither of which covers the other, from devices this wallet never held events of)",
  "log-compacted": "the events asked for are folded into a snapshot here: exchange a backup (snapshot and tail) instead",
  "import-bad-lamport": "an imported event's lamport is not above its dependencies', or leaves no successor",

  // Encodings and crypto
  "encoding-not-json": "a value has no canonical JSON form",
  "encoding-invalid-crockford": "a string is not Crockford base32",
  "encoding-invalid-bytes": "a value that must be bytes (a Uint8Array) is not",
  "kdf-invalid-length": "a kdf output length is out of range",
  "key-invalid-seed": "an Ed25519 seed is not 32 bytes",

  // Backups (the TLRWBK01 file and its content)
  "backup-bad-magic": "the file does not start with TLRWBK01: not a backup of this format",
  "backup-truncated": "the file is shorter than magic, nonce and tag",
  "backup-decrypt-failed": "decryption failed: a wrong wallet root key, or the file was altered (Poly1305 rejected it)",
  "backup-bad-gzip": "the decrypted content is not a complete, valid gzip stream",
  "backup-too-large": "the backup inflates past the size bound (a gzip bomb, or a wallet too large for the bound)",
  "backup-bad-json": "the backup content is not UTF-8 JSON of an object",
  "backup-key-invalid": "a wallet root key is not 32 bytes of Crockford base32",
  "backup-invalid-argument": "a backup function was called with an argument of the wrong kind (nonce length, bound, gzip name)",
  "backup-schema-id-invalid": "the content is not a wallet backup: its schema_id is not gnu-taler-wallet-backup-content",
  "backup-schema-version-unsupported": "the backup was written with a newer schema_version than this engine reads",
  "backup-content-invalid": "the backup content is malformed (a field missing or of the wrong type, clocks that disagree with its log, or a state-only backup without a log)",
  "backup-log-invalid": "the backup's encoded event log is inconsistent (columns of the wrong length, an index out of range, a path without its parent)",
  "backup-snapshot-inconsistent": "the backup's snapshot disagrees with its own tail (frontier, heads and log do not fit together)",
  "backup-recovery-not-found": "none of the providers a recovery names holds a backup under its key (a mistyped key, or no backup was stored yet): nothing was adopted",
  "backup-recovery-strategy-required": "loading a recovery with another root key onto a wallet that has backup providers needs a strategy (theirs or ours)",
  "backup-provider-unknown": "no backup provider with that base URL in this wallet",

  // Sync (the provider protocol, its server and its stores)
  "sync-not-a-provider": "the URL does not answer /config as a Taler sync provider",
  "sync-conflicts-exhausted": "a backup cycle lost every compare-and-swap to other devices uploading at the same time; the next cycle tries again",
  "sync-timeout": "the sync provider did not answer in time",
  "sync-network-error": "the sync provider could not be reached",
  "sync-http-error": "the sync provider answered with an unexpected HTTP status",
  "sync-malformed-response": "the sync provider answered with something the protocol does not allow",
  "sync-bad-signature": "a backup's Sync-Signature does not verify against the account key (tampered, or another account's)",
  "sync-bad-etag": "a backup's ETag is not the hash of its body",
  "sync-invalid-hash": "a hash in a sync header is not 64 bytes of Crockford base32",
  "sync-backup-too-large": "the backup is larger than the provider's storage limit",
  "sync-previous-backup-unknown": "the provider holds no backup for the If-Match hash given",
  "sync-signature-rejected": "the provider refused the upload's signature",
  "sync-account-invalid": "an account is not a 52-character Crockford Ed25519 public key",
  "sync-server-invalid-option": "a sync server option is malformed",
  "sync-server-listen-failed": "the sync server could not listen on the address asked for",
  "sync-store-open-failed": "the sync server's store could not be opened",
  "sync-store-closed": "the sync server's store was used after close",
  "sync-store-unavailable": "the sync server's PostgreSQL database cannot be reached",
  "sync-store-auth-failed": "the sync server's PostgreSQL login was refused",
  "sync-store-database-missing": "the sync server's PostgreSQL database does not exist",
  "sync-store-contention": "compare-and-swap kept losing to concurrent uploads; retry",
  "sync-store-full": "the sync server's store has no space left",
  "sync-store-failed": "the sync server's store failed (the message names the cause)",

  // The command-line tool
  "wallet-not-found": "the directory holds no wallet (the command-line tool's read-only commands never create one)",
  "file-unreadable": "a file named on the command line cannot be read",
  "file-unwritable": "a file named on the command line cannot be written",

  // Store
  "store-open-failed": "the wallet directory cannot be created or read",
  "store-corrupt": "the wallet store is damaged (a checksum, the hash chain or the file structure is wrong)",
  "store-foreign": "the directory holds an LMDB store that is not a wallet of this engine",
  "store-version-unsupported": "the wallet store was written by a newer engine",
  "store-locked": "another process or wallet object has this wallet open for writing",
  "store-read-only": "the wallet directory or file is not writable",
  "store-disk-full": "the disk is full; reads still work",
  "store-reentrant": "a write transaction was started inside another one",
  "store-failed": "the store failed in a way it could not classify (the message names the cause)",
  "internal-error": "a bug in the engine: an unexpected exception (the message names it); please report it",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Every refusal of the engine is a WalletError. `code` is a stable kebab-case
 * identifier (the contract, listed in ERROR_CODES); `message` is for people.
 */
export class WalletError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "WalletError";
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isWalletError(e: unknown): e is WalletError {
  return e instanceof WalletError;
}

/** True when `code` is one of ERROR_CODES (e.g. a code that came over the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

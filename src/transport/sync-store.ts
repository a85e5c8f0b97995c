// The one interface the sync server stores through, with two backends:
// LMDB (sync-store-lmdb.ts: one machine, no service to run) and PostgreSQL
// (sync-store-postgres.ts: a provider serving many users from several machines).

/** One stored backup: the blob and what a GET returns beside it. Hashes and signature in Crockford. */
export interface StoredBackup {
  blob: Uint8Array;
  hash: string;
  signature: string;
  /** The hash of the backup this one replaced; absent on an account's first upload. */
  prevHash?: string;
}

export type AccountState =
  | { kind: "unknown" }
  /** Known (paid) but nothing uploaded yet. */
  | { kind: "empty" }
  | { kind: "backup"; backup: StoredBackup };

export interface NewBackup {
  blob: Uint8Array;
  hash: string;
  signature: string;
}

export type CasResult =
  | { kind: "stored" }
  | { kind: "unchanged" }
  /** `current` is absent when the upload named a previous backup but the account has none. */
  | { kind: "conflict"; current?: StoredBackup };

export interface SyncStore {
  get(account: string): Promise<AccountState>;
  /**
   * Atomically replaces the account's backup when its hash is `expectedPrev`
   * (or when there is none and `expectedPrev` is undefined). Creates the
   * account when needed. Throws a WalletError (code `sync-store-*`) only when
   * the store itself fails.
   */
  compareAndSwap(account: string, expectedPrev: string | undefined, next: NewBackup): Promise<CasResult>;
  isPaid(account: string): Promise<boolean>;
  /** Records a payment: the account becomes known (GET answers 204 until a first upload). */
  markPaid(account: string): Promise<void>;
  close(): Promise<void>;
}

export type CasDecision = "conflict" | "unchanged" | "store";

/**
 * The compare-and-swap rule both backends (and the server's read-only path)
 * apply: the stored hash must be `expectedPrev` (no stored backup when it is
 * undefined), else conflict; then the same hash again is unchanged.
 * The conflict test comes first, as this project's protocol orders them
 * (GNU's sync tests "same hash" first): a client that lost the answer to its
 * own upload and retries with its old If-Match gets its own blob back as a
 * 409, which merges to nothing, instead of a 304.
 */
export function decideCas(currentHash: string | undefined, expectedPrev: string | undefined, nextHash: string): CasDecision {
  if (currentHash !== expectedPrev) return "conflict";
  if (currentHash === nextHash) return "unchanged";
  return "store";
}

/** What a compare-and-swap answers without writing (conflict, unchanged), or undefined when it stores. */
export function casRefusal(current: StoredBackup | undefined, expectedPrev: string | undefined, nextHash: string): CasResult | undefined {
  const decision = decideCas(current?.hash, expectedPrev, nextHash);
  switch (decision) {
    case "conflict":
      return current === undefined ? { kind: "conflict" } : { kind: "conflict", current };
    case "unchanged":
      return { kind: "unchanged" };
    case "store":
      return undefined;
    default: {
      const never: never = decision;
      throw new Error(`unhandled decision ${String(never)}`);
    }
  }
}

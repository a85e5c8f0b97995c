// The sync server's LMDB backend: one record per account holding the paid
// flag and the current backup (blob, hash, signature, previous hash). LMDB
// keeps large values in overflow pages, so a blob of some megabytes is one
// record like any other.
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { WalletError } from "../errors.ts";
import { mapReserve } from "../events/map-reserve.ts";
import { casRefusal, type AccountState, type CasResult, type NewBackup, type StoredBackup, type SyncStore } from "./sync-store.ts";

interface AccountRecord {
  paid: boolean;
  hash?: string;
  signature?: string;
  prevHash?: string;
  blob?: Uint8Array;
}

function failure(what: string, e: unknown): WalletError {
  const detail = e instanceof Error ? e.message : String(e);
  return new WalletError("sync-store-failed", `the sync store could not ${what}: ${detail}`);
}

function backupOf(rec: AccountRecord): StoredBackup | undefined {
  if (rec.hash === undefined || rec.blob === undefined || rec.signature === undefined) return undefined;
  // A copy: the decoded bytes may be a view into a buffer LMDB reuses for the next read.
  const out: StoredBackup = { blob: new Uint8Array(rec.blob), hash: rec.hash, signature: rec.signature };
  if (rec.prevHash !== undefined) out.prevHash = rec.prevHash;
  return out;
}

/** Opens (creating when absent) the store in directory `path`. */
export function openLmdbSyncStore(path: string): SyncStore {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new WalletError("sync-store-open-failed", `cannot create the sync data directory ${path}: ${(e as Error).message}`);
  }
  if (!statSync(path).isDirectory()) throw new WalletError("sync-store-open-failed", `${path} is not a directory`);
  let root: RootDatabase;
  try {
    // overlappingSync off: a transaction's promise resolves only once it is on disk, so a 204 means stored.
    // One reserved map where it is safe (events/map-reserve.ts): stored backups grow the file by megabytes.
    const mapSize = mapReserve();
    root = open({ path: join(path, "sync.mdb"), overlappingSync: false, ...(mapSize ? { mapSize } : {}) });
  } catch (e) {
    throw new WalletError("sync-store-open-failed", `cannot open the sync store in ${path}: ${(e as Error).message}`);
  }
  let closed = false;

  function read(account: string): AccountRecord | undefined {
    if (closed) throw new WalletError("sync-store-closed", "the sync store is closed");
    return root.get(account) as AccountRecord | undefined;
  }

  return {
    async get(account: string): Promise<AccountState> {
      let rec: AccountRecord | undefined;
      try {
        rec = read(account);
      } catch (e) {
        throw e instanceof WalletError ? e : failure("read an account", e);
      }
      if (rec === undefined) return { kind: "unknown" };
      const backup = backupOf(rec);
      return backup === undefined ? { kind: "empty" } : { kind: "backup", backup };
    },

    async compareAndSwap(account: string, expectedPrev: string | undefined, next: NewBackup): Promise<CasResult> {
      if (closed) throw new WalletError("sync-store-closed", "the sync store is closed");
      try {
        // One write transaction: the read that decides and the write cannot be split by another writer.
        return await root.transaction((): CasResult => {
          const rec = root.get(account) as AccountRecord | undefined;
          const current = rec === undefined ? undefined : backupOf(rec);
          const refusal = casRefusal(current, expectedPrev, next.hash);
          if (refusal) return refusal;
          const updated: AccountRecord = {
            paid: rec?.paid ?? false,
            hash: next.hash,
            signature: next.signature,
            blob: next.blob,
          };
          if (current !== undefined) updated.prevHash = current.hash;
          root.put(account, updated);
          return { kind: "stored" };
        });
      } catch (e) {
        throw e instanceof WalletError ? e : failure("store a backup", e);
      }
    },

    async isPaid(account: string): Promise<boolean> {
      try {
        return read(account)?.paid === true;
      } catch (e) {
        throw e instanceof WalletError ? e : failure("read an account", e);
      }
    },

    async markPaid(account: string): Promise<void> {
      if (closed) throw new WalletError("sync-store-closed", "the sync store is closed");
      try {
        await root.transaction(() => {
          const rec = root.get(account) as AccountRecord | undefined;
          root.put(account, { ...(rec ?? {}), paid: true });
        });
      } catch (e) {
        throw failure("record a payment", e);
      }
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await root.close();
    },
  };
}

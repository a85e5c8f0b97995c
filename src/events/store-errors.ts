// What the file system and lmdb throw, as WalletErrors: no raw library error
// reaches a caller. The original message is kept in the WalletError's message.
import { asText, WalletError, type ErrorCode } from "../errors.ts";

const BY_ERRNO: Record<string, ErrorCode> = {
  ENOSPC: "store-disk-full",
  EDQUOT: "store-disk-full",
  EROFS: "store-read-only",
  EACCES: "store-read-only",
  EPERM: "store-read-only",
  EISDIR: "store-corrupt",
  ENOTDIR: "store-open-failed",
  ENOENT: "store-open-failed",
  ENAMETOOLONG: "store-open-failed",
  ELOOP: "store-open-failed",
};

/** lmdb reports some conditions only in its message; these say what they mean. */
const BY_MESSAGE: [RegExp, ErrorCode][] = [
  [/No space left|MDB_MAP_FULL|ENOSPC/i, "store-disk-full"],
  [/Read-only file system|Permission denied|EACCES|EROFS/i, "store-read-only"],
  [/Key size is larger than the maximum key size|MDB_BAD_VALSIZE/i, "request-too-large"],
  [/MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_INVALID|MDB_VERSION_MISMATCH|MDB_BAD_TXN|MDB_PROBLEM|MDB_INCOMPATIBLE|Is a directory/i, "store-corrupt"],
];

/** `e` as a WalletError; `context` says what the store was doing. WalletErrors pass through. */
export function asStoreError(e: unknown, context: string): WalletError {
  if (e instanceof WalletError) return e;
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const message = typeof err?.message === "string" ? err.message : asText(e);
  const errno = typeof err?.code === "string" ? err.code : "";
  const code = BY_ERRNO[errno] ?? BY_MESSAGE.find(([re]) => re.test(message))?.[1] ?? "store-failed";
  return new WalletError(code, `${context}: ${message}`, errno ? { errno } : undefined);
}

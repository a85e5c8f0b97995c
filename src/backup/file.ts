// The encrypted backup file, byte-compatible with GNU Taler's TLRWBK01:
//
//   "TLRWBK01" (8 bytes ASCII) ‖ nonce (24 bytes) ‖ secretbox(gzip(UTF-8 of canonical JSON))
//
// secretbox is NaCl's XSalsa20-Poly1305 (tweetnacl), its 16-byte tag first;
// the key is the blob secret derived from the wallet root seed (./keys.ts).
// Checking the content's schema (schema_id, schema_version) is the caller's
// business: this file only turns bytes into a JSON object and back.
import nacl from "tweetnacl";
import { WalletError } from "../errors.ts";
import { fflateGzip, type GzipCodec, type GzipImplementation } from "./gzip.ts";
import { nodeZlibGzip } from "./gzip-node.ts";
import { decodeWalletRootPriv, deriveBlobSecret } from "./keys.ts";

export { deriveBlobSecret } from "./keys.ts";
export type { GzipImplementation } from "./gzip.ts";

export const BACKUP_MAGIC = "TLRWBK01";
const MAGIC = new TextEncoder().encode(BACKUP_MAGIC);
const NONCE_BYTES = nacl.secretbox.nonceLength; // 24
const TAG_BYTES = nacl.secretbox.overheadLength; // 16
const HEADER_BYTES = MAGIC.length + NONCE_BYTES;

/** Default bound on the inflated plain JSON: refused beyond it (a gzip bomb costs at most this much memory). */
export const DEFAULT_MAX_PLAIN_BYTES = 256 * 1024 * 1024;

/**
 * The gzip used when none is chosen: node:zlib, measurably faster at every size
 * (bench/backup-file.ts; event-log JSON, medians, node 20 on a shared 2-core
 * x64, ms; the second run was noisier, the ratios held):
 *
 *   plain JSON   gzip alone fflate / zlib   gunzip alone fflate / zlib   file bytes fflate / zlib
 *   1 MiB           94 / 31 (162 / 47)          27 / 4.8 (41 / 6.4)        347,904 / 316,320
 *   8 MiB          738 / 295 (1409 / 555)      275 / 33 (457 / 87)       2,779,999 / 2,526,628
 *   40 MiB        4146 / 2425 (3577 / 1739)   2018 / 304 (1350 / 238)   13,849,379 / 12,583,604
 *
 * Whole files at 40 MiB: encrypt 5604 vs 2792 ms, decrypt 2723 vs 1032 ms. The
 * rest of a decrypt is tweetnacl's secretbox (~20 MB/s of ciphertext). fflate
 * stays selectable for hosts without node:zlib (browsers).
 */
export const DEFAULT_GZIP: GzipImplementation = "node-zlib";

/** Every code a refusal of this module carries. */
export type BackupFileErrorCode =
  | "backup-bad-magic"
  | "backup-truncated"
  | "backup-decrypt-failed"
  | "backup-bad-gzip"
  | "backup-too-large"
  | "backup-bad-json"
  | "backup-key-invalid"
  | "backup-invalid-argument";

/** A refusal of the backup file format; exported so the content's validator words its refusals the same way. */
export function backupFileError(code: BackupFileErrorCode, message: string, details?: Record<string, unknown>): WalletError {
  return new WalletError(code, message, details);
}

export interface EncryptBackupOptions {
  /** Tests only: a fixed nonce (24 bytes). Reusing a nonce with the same key breaks secretbox. */
  nonce?: Uint8Array;
  /** Which gzip writes the file; the output is standard gzip either way. */
  gzip?: GzipImplementation;
  /** Refuses to write a file whose plain JSON is larger than this (default DEFAULT_MAX_PLAIN_BYTES), as no reader would take it. */
  maxPlainBytes?: number;
}

export interface DecryptBackupOptions {
  /** Bound on the inflated plain JSON in bytes (default DEFAULT_MAX_PLAIN_BYTES). */
  maxPlainBytes?: number;
  /** Which gzip reads the file; both read by the same strict rules. */
  gzip?: GzipImplementation;
}

function invalidArgument(message: string): WalletError {
  return backupFileError("backup-invalid-argument", message);
}

function codecOf(name: GzipImplementation | undefined): GzipCodec {
  const n = name ?? DEFAULT_GZIP;
  switch (n) {
    case "fflate":
      return fflateGzip;
    case "node-zlib":
      return nodeZlibGzip;
    default: {
      const never: never = n;
      throw invalidArgument(`unknown gzip implementation ${JSON.stringify(never)} (use "fflate" or "node-zlib")`);
    }
  }
}

// Past this no JS engine holds the text as one string anyway, and larger
// bounds would let the inflated pieces outgrow a single Uint8Array.
const MAX_MAX_PLAIN_BYTES = 2 ** 31;

function maxPlainBytesOf(v: number | undefined): number {
  if (v === undefined) return DEFAULT_MAX_PLAIN_BYTES;
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_MAX_PLAIN_BYTES) {
    throw invalidArgument(`maxPlainBytes must be an integer from 0 to ${MAX_MAX_PLAIN_BYTES}, got ${v}`);
  }
  return v;
}

function isWellFormedUnicode(text: string): boolean {
  const native = (text as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  // String.prototype.isWellFormed exists from node 20; the regex is the fallback elsewhere.
  return native ? native.call(text) : !/\p{Surrogate}/u.test(text);
}

/**
 * Encrypts the canonical JSON text of a plain backup into a TLRWBK01 file,
 * with a fresh random nonce unless `opts.nonce` is given (tests only).
 */
export function encryptBackupBytes(canonicalJsonText: string, rootSeed: Uint8Array, opts: EncryptBackupOptions = {}): Uint8Array {
  const key = deriveBlobSecret(rootSeed);
  if (typeof canonicalJsonText !== "string") throw invalidArgument(`the backup content is a JSON string, got ${typeof canonicalJsonText}`);
  const codec = codecOf(opts.gzip);
  const max = maxPlainBytesOf(opts.maxPlainBytes);
  const nonce = opts.nonce ?? nacl.randomBytes(NONCE_BYTES);
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw invalidArgument(`the nonce is ${NONCE_BYTES} bytes`);
  if (!isWellFormedUnicode(canonicalJsonText)) {
    // TextEncoder would silently turn a lone surrogate into U+FFFD: the file would not hold this text.
    throw backupFileError("backup-bad-json", "the backup text contains a lone UTF-16 surrogate, which UTF-8 cannot carry (canonicalJson never produces one)");
  }
  const plain = new TextEncoder().encode(canonicalJsonText);
  if (plain.length > max) {
    throw backupFileError("backup-too-large", `the backup is ${plain.length} bytes of JSON, over the ${max}-byte bound readers apply`, { maxBytes: max, bytes: plain.length });
  }
  const box = nacl.secretbox(codec.gzip(plain), nonce, key);
  const out = new Uint8Array(HEADER_BYTES + box.length);
  out.set(MAGIC, 0);
  out.set(nonce, MAGIC.length);
  out.set(box, HEADER_BYTES);
  return out;
}

/** Decrypts a TLRWBK01 file to the JSON text it holds (UTF-8 checked, JSON not parsed). */
export function decryptBackupBytes(file: Uint8Array, rootSeed: Uint8Array, opts: DecryptBackupOptions = {}): string {
  const key = deriveBlobSecret(rootSeed);
  const codec = codecOf(opts.gzip);
  const max = maxPlainBytesOf(opts.maxPlainBytes);
  if (!(file instanceof Uint8Array)) throw invalidArgument(`a backup file is a Uint8Array, got ${typeof file}`);
  // A prefix of the magic is a truncated file; anything else is not a backup file at all.
  const seen = Math.min(file.length, MAGIC.length);
  for (let i = 0; i < seen; i++) {
    if (file[i] !== MAGIC[i]) {
      throw backupFileError("backup-bad-magic", `not a TLRWBK01 backup file: it does not start with "${BACKUP_MAGIC}"`);
    }
  }
  if (file.length < HEADER_BYTES + TAG_BYTES) {
    throw backupFileError(
      "backup-truncated",
      `the backup file is truncated: ${file.length} bytes, shorter than magic, nonce and tag (${HEADER_BYTES + TAG_BYTES})`,
      { bytes: file.length },
    );
  }
  const gz = nacl.secretbox.open(file.subarray(HEADER_BYTES), file.subarray(MAGIC.length, HEADER_BYTES), key);
  if (gz === null) {
    throw backupFileError(
      "backup-decrypt-failed",
      "the backup does not decrypt: its Poly1305 tag does not match, so either the wallet root key is not the one it was made with, or the file was altered or damaged (truncated, a changed byte in nonce, tag or body)",
    );
  }
  const plain = codec.gunzip(gz, max);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(plain);
  } catch (e) {
    if (e instanceof RangeError) {
      throw backupFileError("backup-too-large", `the backup's ${plain.length} bytes of JSON are too large to hold as one string`, { bytes: plain.length });
    }
    throw backupFileError("backup-bad-json", "the backup decrypted and inflated, but its content is not valid UTF-8");
  }
}

/** Parses a backup's JSON text; the plain backup is always an object. */
export function parseBackupJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw backupFileError("backup-bad-json", `the backup's content is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const what = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    throw backupFileError("backup-bad-json", `the backup's content is JSON but ${what}, not an object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Decrypts a TLRWBK01 file with the Crockford `walletRootPriv` of a backup
 * recovery and parses it to the plain backup object (schema not checked here).
 */
export function decryptBackupFile(bytes: Uint8Array, walletRootPriv: string, opts: DecryptBackupOptions = {}): Record<string, unknown> {
  return parseBackupJson(decryptBackupBytes(bytes, decodeWalletRootPriv(walletRootPriv), opts));
}

// What the sync client and the sync server must agree on byte for byte: the
// signed upload struct and the textual forms of hashes and signatures.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { decodeCrock, encodeCrock } from "../codec/crockford.ts";

/** GNU Taler's signature purpose for a sync backup upload (TALER_SIGNATURE_SYNC_BACKUP_UPLOAD). */
export const SYNC_PURPOSE_BACKUP_UPLOAD = 1450;

/** Size of the signed struct: 4 (size) + 4 (purpose) + 64 (old hash) + 64 (new hash). */
export const SYNC_SIGNATURE_PAYLOAD_SIZE = 136;

const HASH_BYTES = 64;
const HASH_CHARS = 103;
const KEY_CHARS = 52;
const SIG_BYTES = 64;
const SIG_CHARS = 103;

/** The Crockford form of 64 zero bytes: "no previous backup" in the signed struct and in old servers' Sync-Previous. */
export const ZERO_HASH = encodeCrock(new Uint8Array(HASH_BYTES));

function hashBytes(hash: string | Uint8Array | undefined, what: string): Uint8Array {
  if (hash === undefined) return new Uint8Array(HASH_BYTES);
  const bytes = typeof hash === "string" ? decodeCrock(hash) : hash;
  if (bytes.length !== HASH_BYTES) throw new RangeError(`${what} must be a 64-byte SHA-512 hash`);
  return bytes;
}

/**
 * The 136 bytes an account key signs for an upload: uint32 BE size 136,
 * uint32 BE purpose 1450, the SHA-512 of the backup it replaces (zeros when
 * none), the SHA-512 of the new backup. Hashes as Crockford text or bytes.
 */
export function syncSignaturePayload(
  oldHash: string | Uint8Array | undefined,
  newHash: string | Uint8Array,
): Uint8Array {
  const out = new Uint8Array(SYNC_SIGNATURE_PAYLOAD_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, SYNC_SIGNATURE_PAYLOAD_SIZE, false);
  view.setUint32(4, SYNC_PURPOSE_BACKUP_UPLOAD, false);
  out.set(hashBytes(oldHash, "the old hash"), 8);
  out.set(hashBytes(newHash, "the new hash"), 8 + HASH_BYTES);
  return out;
}

/** Strips one pair of surrounding double quotes: GNU Taler's 2021–2022 wallets and servers sent hashes unquoted. */
export function unquote(value: string): string {
  const t = value.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function crockOfLength(text: string, chars: number, bytes: number): string | undefined {
  if (text.length !== chars) return undefined;
  let decoded: Uint8Array;
  try {
    decoded = decodeCrock(text);
  } catch {
    return undefined;
  }
  if (decoded.length !== bytes) return undefined;
  // Re-encoding folds case, aliases (O, I, L, U) and stray padding bits into one spelling.
  return encodeCrock(decoded);
}

/** A SHA-512 hash header (quoted or not) in canonical Crockford form; undefined when malformed. */
export function parseHashHeader(value: string | undefined | null): string | undefined {
  if (typeof value !== "string") return undefined;
  return crockOfLength(unquote(value), HASH_CHARS, HASH_BYTES);
}

/** An Ed25519 signature header (quoted tolerated) in canonical Crockford form; undefined when malformed. */
export function parseSignatureHeader(value: string | undefined | null): string | undefined {
  if (typeof value !== "string") return undefined;
  return crockOfLength(unquote(value), SIG_CHARS, SIG_BYTES);
}

/** An account public key (52 Crockford characters, 32 bytes) in canonical form; undefined when malformed. */
export function parseAccountPub(text: string): string | undefined {
  return crockOfLength(text, KEY_CHARS, 32);
}

// Ed25519 through node's OpenSSL for the upload signature: the same RFC 8032
// signatures as codec/keys.ts (tweetnacl), about a hundred times faster, which
// is what bounds a provider's uploads per second.
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function der(prefix: Uint8Array, key: Uint8Array): Buffer {
  return Buffer.concat([prefix, key]);
}

/** The account's signature (Crockford) of an upload of `newHash` replacing `oldHash` (none: a first upload). */
export function signSyncUpload(accountSeed: Uint8Array, oldHash: string | undefined, newHash: string): string {
  if (accountSeed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
  const key = createPrivateKey({ key: der(PKCS8_ED25519_PREFIX, accountSeed), format: "der", type: "pkcs8" });
  return encodeCrock(new Uint8Array(nodeSign(null, syncSignaturePayload(oldHash, newHash), key)));
}

/** True iff `signature` is the account's signature of that upload; malformed keys or signatures are simply false. */
export function verifySyncUpload(
  accountPub: Uint8Array,
  oldHash: string | undefined,
  newHash: string,
  signature: Uint8Array,
): boolean {
  if (accountPub.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: der(SPKI_ED25519_PREFIX, accountPub), format: "der", type: "spki" });
    return nodeVerify(null, syncSignaturePayload(oldHash, newHash), key, signature);
  } catch {
    // OpenSSL refuses some byte strings as keys outright: such a key signed nothing.
    return false;
  }
}

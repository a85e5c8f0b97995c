// The backup's keys, from the wallet root seed (DESIGN.md, "The backup").
import { decodeCrock } from "../codec/crockford.ts";
import { kdf } from "../codec/kdf.ts";
import { WalletError } from "../errors.ts";

export const BLOB_SECRET_SALT = "taler-sync-blob-secret-salt";
export const BLOB_SECRET_INFO = "taler-sync-blob-secret-info";

const SEED_BYTES = 32;
const SEED_CHARS = 52; // 32 bytes in Crockford base32

function keyInvalid(message: string): WalletError {
  return new WalletError("backup-key-invalid", message);
}

export function checkRootSeed(rootSeed: unknown): asserts rootSeed is Uint8Array {
  if (!(rootSeed instanceof Uint8Array) || rootSeed.length !== SEED_BYTES) {
    const got = rootSeed instanceof Uint8Array ? `${rootSeed.length} bytes` : typeof rootSeed;
    throw keyInvalid(`the wallet root seed is ${SEED_BYTES} bytes, got ${got}`);
  }
}

/** The 32-byte wallet root seed of a Crockford `walletRootPriv` (as in a backup recovery). */
export function decodeWalletRootPriv(walletRootPriv: unknown): Uint8Array {
  if (typeof walletRootPriv !== "string" || walletRootPriv.length !== SEED_CHARS) {
    const got = typeof walletRootPriv === "string" ? `${walletRootPriv.length} characters` : typeof walletRootPriv;
    throw keyInvalid(`walletRootPriv is ${SEED_CHARS} Crockford base32 characters (32 bytes), got ${got}`);
  }
  try {
    return decodeCrock(walletRootPriv);
  } catch (e) {
    if (e instanceof WalletError) throw keyInvalid(`walletRootPriv is not Crockford base32: ${e.message}`);
    throw e;
  }
}

/** The secretbox key of the backup file: Taler's `kdf(32, root, "taler-sync-blob-secret-salt", "taler-sync-blob-secret-info")`. */
export function deriveBlobSecret(rootSeed: Uint8Array): Uint8Array {
  checkRootSeed(rootSeed);
  return kdf(32, rootSeed, BLOB_SECRET_SALT, BLOB_SECRET_INFO);
}

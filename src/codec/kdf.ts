import { createHmac } from "node:crypto";
import { WalletError } from "../errors.ts";

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

function toBytes(v: Uint8Array | string | undefined): Uint8Array {
  if (v === undefined) return EMPTY;
  return typeof v === "string" ? utf8.encode(v) : v;
}

/**
 * GNU Taler's kdf: HKDF with an HMAC-SHA512 extract and an HMAC-SHA256 expand.
 * The mixed hashes are Taler's choice, so a standard HKDF would not interoperate.
 * Strings are taken as UTF-8; a missing salt or info is empty.
 */
export function kdf(
  outLen: number,
  ikm: Uint8Array,
  salt?: Uint8Array | string,
  info?: Uint8Array | string,
): Uint8Array {
  // 255 blocks is the HKDF expand limit: the counter is a single byte.
  if (!Number.isInteger(outLen) || outLen < 0 || outLen > 255 * 32) {
    throw new WalletError("kdf-invalid-length", `kdf output length ${outLen} is out of range`, { outLen });
  }
  const prk = createHmac("sha512", toBytes(salt)).update(ikm).digest();
  const infoBytes = toBytes(info);
  const out = new Uint8Array(outLen);
  let prev: Uint8Array = EMPTY;
  let pos = 0;
  for (let i = 1; pos < outLen; i++) {
    const h = createHmac("sha256", prk);
    h.update(prev);
    h.update(infoBytes);
    h.update(Uint8Array.of(i));
    prev = h.digest();
    const take = Math.min(prev.length, outLen - pos);
    out.set(prev.subarray(0, take), pos);
    pos += take;
  }
  return out;
}

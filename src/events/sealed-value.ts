// Every value the store writes is sealed: a CRC-32 of its bytes in front, so
// a value damaged on disk is refused (store-corrupt) instead of read as a
// wrong answer. LMDB keeps no checksums of its own.
import * as zlib from "node:zlib";
import { crc32 as crc32Js } from "../codec/crc32.ts";
import { WalletError } from "../errors.ts";

// node:zlib's crc32 (Node ≥ 20.15) is native and ~10× faster than the JS table; both give the same value.
const crc32: (b: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === "function" ? (zlib as unknown as { crc32: (b: Uint8Array) => number }).crc32 : crc32Js;

const HEADER = 4;

/** The bytes to store for `payload`: its CRC-32 (big-endian) followed by the payload. */
export function seal(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(crc32(payload), 0);
  out.set(payload, HEADER);
  return out;
}

/** The payload of stored bytes, checked; `where` names the value in the refusal. */
export function unseal(stored: Uint8Array, where: string): Buffer {
  const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (buf.length < HEADER) throw damaged(where, "shorter than its checksum");
  const payload = buf.subarray(HEADER);
  if (buf.readUInt32BE(0) !== crc32(payload)) throw damaged(where, "checksum mismatch");
  return payload;
}

export function damaged(where: string, why: string): WalletError {
  return new WalletError("store-corrupt", `the wallet store is damaged: ${where}: ${why}`, { where });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A sealed JSON value (records, meta, local events). */
export const sealJson = (v: unknown): Buffer => seal(Buffer.from(JSON.stringify(v)));

export function unsealJson<T>(stored: Uint8Array, where: string): T {
  const payload = unseal(stored, where);
  try {
    return JSON.parse(utf8.decode(payload)) as T;
  } catch {
    throw damaged(where, "not JSON");
  }
}

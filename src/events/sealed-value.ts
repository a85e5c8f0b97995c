// Every value the store writes is sealed: a CRC-32 of its key and bytes in
// front, so a value damaged on disk is refused (store-corrupt) instead of read
// as a wrong answer, and so is a value found under another key than the one
// it was written under (a flipped bit in a key). LMDB keeps no checksums.
import * as zlib from "node:zlib";
import { crc32 as crc32Js } from "../codec/crc32.ts";
import { WalletError } from "../errors.ts";

// node:zlib's crc32 (Node ≥ 20.15) is native and ~10× faster than the JS table; both give the same value.
const nativeCrc = (zlib as unknown as { crc32?: (b: Uint8Array, start?: number) => number }).crc32;
const crc32: (b: Uint8Array, start?: number) => number = nativeCrc ?? crc32Js;

const HEADER = 4;

/** A key as the checksum covers it. */
export type KeyTag = string;

// The native crc32 takes the tag as a string (UTF-8) without an intermediate buffer.
const tagCrc: (tag: KeyTag) => number = nativeCrc ? (tag) => (nativeCrc as unknown as (s: string) => number)(tag) : (tag) => crc32Js(Buffer.from(tag));
const checksum = (tag: KeyTag, payload: Uint8Array) => crc32(payload, tagCrc(tag));

/** The bytes to store for `payload` under the key `tag`: the CRC-32 (big-endian) of both, then the payload. */
export function seal(payload: Uint8Array, tag: KeyTag): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(checksum(tag, payload), 0);
  out.set(payload, HEADER);
  return out;
}

/** Like seal, for text: its UTF-8 bytes are written once, straight after the checksum. */
export function sealText(text: string, tag: KeyTag): Buffer {
  return sealInto(Buffer.allocUnsafe(HEADER + Buffer.byteLength(text)), text, tag);
}

/** Writes text's UTF-8 bytes after the header of `buf` (large enough), then their checksum; the sealed view. */
function sealInto(buf: Buffer, text: string, tag: KeyTag): Buffer {
  const n = buf.write(text, HEADER);
  const out = buf.subarray(0, HEADER + n);
  out.writeUInt32BE(checksum(tag, out.subarray(HEADER)), 0);
  return out;
}

/** The payload of bytes stored under `tag`, checked; `where` names the value in the refusal. */
export function unseal(stored: Uint8Array, tag: KeyTag, where: string): Buffer {
  const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (buf.length < HEADER) throw damaged(where, "shorter than its checksum");
  const payload = buf.subarray(HEADER);
  if (buf.readUInt32BE(0) !== checksum(tag, payload)) throw damaged(where, "checksum mismatch");
  return payload;
}

export function damaged(where: string, why: string): WalletError {
  return new WalletError("store-corrupt", `the wallet store is damaged: ${where}: ${why}`, { where });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

// One buffer sealTransient writes into: a put inside a synchronous LMDB transaction copies the
// value before it returns, so a value that is only put needs no buffer of its own.
let transient = Buffer.allocUnsafeSlow(1 << 16);

/**
 * Like sealText, into a buffer the next call overwrites: only for a value
 * handed straight to a put inside a synchronous write transaction.
 */
export function sealTransient(text: string, tag: KeyTag): Buffer {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes.
  if (HEADER + text.length * 3 > transient.length) transient = Buffer.allocUnsafeSlow(2 * (HEADER + text.length * 3));
  return sealInto(transient, text, tag);
}

/** A sealed JSON value (records, meta, local events). */
export const sealJson = (v: unknown, tag: KeyTag): Buffer => sealText(JSON.stringify(v), tag);

export function unsealJson<T>(stored: Uint8Array, tag: KeyTag, where: string): T {
  const payload = unseal(stored, tag, where);
  try {
    return JSON.parse(utf8.decode(payload)) as T;
  } catch {
    throw damaged(where, "not JSON");
  }
}

// gzip (RFC 1952) behind one small interface, on fflate (pure JS, runs in
// browsers) or on node:zlib (native). Both write one standard member, so each
// reads the other's output, and both read by the same strict rules:
//
//   - a file is one or more complete members (RFC 1952 §2.2), each with a valid
//     header (deflate method, no reserved flags, FHCRC checked when present),
//     its CRC-32 and ISIZE checked against what it inflated to;
//   - nothing may follow the last member: not garbage, not zero padding;
//   - inflating stops as soon as the output passes the caller's bound, so a
//     gzip bomb costs at most the bound in memory, never its inflated size.
//
// Left to themselves the two libraries disagree (measured on fflate 0.8 and
// node 20): node:zlib skips trailing zero bytes, and fflate's stream accepts an
// empty input, a truncated or missing trailer, a wrong CRC-32 or ISIZE and up to
// three trailing bytes. Hence the framing below. Inside a deflate stream fflate
// stays more lenient than zlib (it does not check a stored block's NLEN, for
// one); only the key holder can make authentic content, and the CRC-32 catches
// corruption, so that is not worth a deflate parser of our own.
import { Gunzip, gzipSync } from "fflate";
import { crc32 } from "../codec/crc32.ts";
import { WalletError } from "../errors.ts";

export type GzipImplementation = "fflate" | "node-zlib";

export interface GzipCodec {
  readonly name: GzipImplementation;
  /** One standard gzip member of `bytes` (deflate level 6, MTIME 0). */
  gzip(bytes: Uint8Array): Uint8Array;
  /**
   * The bytes a gzip file inflates to. Refuses with `backup-bad-gzip` anything
   * that is not strictly gzip (see above), and with `backup-too-large` output
   * over `maxBytes`, without inflating further.
   */
  gunzip(bytes: Uint8Array, maxBytes: number): Uint8Array;
}

export function badGzip(why: string): WalletError {
  return new WalletError("backup-bad-gzip", `the backup decrypted correctly but its content is not valid gzip: ${why}`);
}

export function tooLarge(maxBytes: number): WalletError {
  return new WalletError(
    "backup-too-large",
    `the backup inflates to more than ${maxBytes} bytes; refused before inflating further (raise maxPlainBytes if the backup is genuine)`,
    { maxBytes },
  );
}

// FTEXT (1) is a hint only: the content is bytes either way.
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const RESERVED_FLAGS = 0xe0;

/** Offset of the deflate data of the member whose header starts at `at`. */
export function parseGzipHeader(b: Uint8Array, at: number): number {
  if (b.length - at < 10) throw badGzip(`truncated gzip header at byte ${at}`);
  if (b[at] !== 0x1f || b[at + 1] !== 0x8b) throw badGzip(`no gzip magic (1f 8b) at byte ${at}`);
  if (b[at + 2] !== 8) throw badGzip(`compression method ${b[at + 2]} is not deflate (8)`);
  const flags = b[at + 3];
  if (flags & RESERVED_FLAGS) throw badGzip(`reserved gzip header flags set (${flags.toString(2)})`);
  let p = at + 10;
  if (flags & FEXTRA) {
    if (p + 2 > b.length) throw badGzip("truncated gzip extra field");
    p += 2 + (b[p] | (b[p + 1] << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    while (p < b.length && b[p] !== 0) p++;
    p++; // the terminating zero
  }
  if (flags & FHCRC) {
    if (p + 2 > b.length) throw badGzip("truncated gzip header");
    const want = b[p] | (b[p + 1] << 8);
    if ((crc32(b.subarray(at, p)) & 0xffff) !== want) throw badGzip("gzip header CRC mismatch");
    p += 2;
  }
  if (p > b.length) throw badGzip("truncated gzip header");
  return p;
}

function readU32LE(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].length === total) return chunks[0];
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

// fflate parses only headers we give it: this minimal one in front of a
// member's deflate data, and an empty member behind it. The stream reports
// where the next member starts (onmember), so the empty member marks where
// the deflate data and its 8-byte trailer end, which fflate does not expose.
const MINIMAL_HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff);
const EMPTY_MEMBER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0);

// fflate's stream inflates each push into one buffer (grown by doubling)
// before reporting it, so the bound must hold per push: deflate expands at most
// 1032:1, and a piece of (room left) / (4 * 1032) bytes inflates to at most a
// quarter of the room, in a buffer of at most half of it (plus a copy of the
// quarter handed to us). Live memory thus stays under the bound plus what one
// MIN_PIECE can inflate to (~66 KiB); a refused 1 GiB bomb raised the peak RSS
// by ~2.2x a 32 MiB bound and ~1.1x a 256 MiB one (garbage is freed lazily).
// Pieces of 64 KiB to 1 MiB inflate equally fast; smaller ones cost fflate a
// 32 KiB window copy each, which only files within a few MiB of the bound pay.
const MAX_RATIO = 1032;
const MIN_PIECE = 64;
const MAX_PIECE = 1 << 20;

class MemberEnd {
  constructor(readonly fedOffset: number) {}
}
class OverBound {}

function fflateWhy(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // fflate says this when the bytes after a member's trailer are not another member.
  if (msg === "invalid gzip data") return "bytes after a gzip member that are not another member (trailing garbage or a truncated member)";
  return msg;
}

/** Inflates the member whose deflate data starts at `data`; returns where the member ends. */
function inflateMemberFflate(b: Uint8Array, data: number, maxBytes: number, out: { chunks: Uint8Array[]; total: number }): number {
  let crc = 0;
  let size = 0;
  const stream = new Gunzip((chunk) => {
    if (chunk.length === 0) return;
    out.total += chunk.length;
    if (out.total > maxBytes) throw new OverBound();
    out.chunks.push(chunk);
    crc = crc32(chunk, crc);
    size += chunk.length;
  });
  stream.onmember = (offset) => {
    throw new MemberEnd(offset);
  };
  let end: number | undefined;
  try {
    let p = data;
    let first = true;
    while (p < b.length) {
      const room = maxBytes - out.total;
      const piece = Math.min(MAX_PIECE, Math.max(MIN_PIECE, Math.floor(room / (4 * MAX_RATIO))));
      const next = Math.min(b.length, p + piece);
      if (first) {
        const start = new Uint8Array(MINIMAL_HEADER.length + (next - p));
        start.set(MINIMAL_HEADER);
        start.set(b.subarray(p, next), MINIMAL_HEADER.length);
        stream.push(start, false);
        first = false;
      } else {
        stream.push(b.subarray(p, next), false);
      }
      p = next;
    }
    if (first) stream.push(MINIMAL_HEADER, false);
    stream.push(EMPTY_MEMBER, true);
  } catch (e) {
    if (e instanceof MemberEnd) end = e.fedOffset - MINIMAL_HEADER.length + data;
    else if (e instanceof OverBound) throw tooLarge(maxBytes);
    else throw badGzip(fflateWhy(e));
  }
  if (end === undefined || end > b.length || end - 8 < data) throw badGzip("truncated gzip member (no complete trailer)");
  if (readU32LE(b, end - 8) !== crc) throw badGzip("CRC-32 mismatch: the inflated data is not what was compressed");
  if (readU32LE(b, end - 4) !== size >>> 0) throw badGzip("ISIZE mismatch: the inflated length is not what was compressed");
  return end;
}

export const fflateGzip: GzipCodec = {
  name: "fflate",
  gzip(bytes) {
    return gzipSync(bytes, { level: 6, mtime: 0 });
  },
  gunzip(bytes, maxBytes) {
    const out = { chunks: [] as Uint8Array[], total: 0 };
    let at = 0;
    do at = inflateMemberFflate(bytes, parseGzipHeader(bytes, at), maxBytes, out);
    while (at < bytes.length);
    return concat(out.chunks, out.total);
  },
};

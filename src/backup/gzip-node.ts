// The gzip interface on node:zlib (native). zlib itself checks headers, CRC-32,
// ISIZE and members; what it lets through (zero bytes after the last member)
// is caught by comparing the bytes it consumed with the input's length.
import { constants as bufferConstants } from "node:buffer";
import { gunzipSync, gzipSync } from "node:zlib";
import { badGzip, tooLarge, type GzipCodec } from "./gzip.ts";

function asUint8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export const nodeZlibGzip: GzipCodec = {
  name: "node-zlib",
  gzip(bytes) {
    return asUint8(gzipSync(bytes, { level: 6 }));
  },
  gunzip(bytes, maxBytes) {
    if (bytes.length === 0) throw badGzip("empty");
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // `info: true` returns the engine too, to learn how much input it consumed.
      // zlib checks the bound after each 16 KiB output chunk (larger chunks
      // measured no faster), so it holds at most the bound plus one chunk.
      result = gunzipSync(bytes, { info: true, maxOutputLength: Math.min(bufferConstants.MAX_LENGTH, Math.max(1, maxBytes)) }) as unknown as typeof result;
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(maxBytes);
      throw badGzip(e instanceof Error ? e.message : String(e));
    }
    if (result.buffer.length > maxBytes) throw tooLarge(maxBytes);
    if (result.engine.bytesWritten !== bytes.length) {
      throw badGzip(`${bytes.length - result.engine.bytesWritten} bytes after the last gzip member`);
    }
    return asUint8(result.buffer);
  },
};

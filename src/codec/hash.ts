import { createHash } from "node:crypto";

/** SHA-512 of bytes or of a string's UTF-8 encoding (node's native hash: the append hot path uses it). */
export function sha512(data: Uint8Array | string): Uint8Array {
  const h = createHash("sha512");
  h.update(data);
  return new Uint8Array(h.digest());
}

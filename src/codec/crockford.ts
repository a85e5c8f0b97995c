import { describeValue, WalletError } from "../errors.ts";
import { requireBytes } from "./byte-input.ts";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));

// Every event's prev and every hash goes through encodeCrock: the character codes go into this one
// buffer (grown when a longer input comes), and only the string is new.
let scratch = Buffer.allocUnsafeSlow(128);

/** Crockford base32 as GNU Taler uses it: MSB first, no padding. */
export function encodeCrock(bytes: Uint8Array): string {
  requireBytes(bytes, "encodeCrock's input");
  const length = Math.ceil((bytes.length * 8) / 5);
  if (length > scratch.length) scratch = Buffer.allocUnsafeSlow(length);
  const out = scratch;
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out[n++] = CODES[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out[n++] = CODES[(acc << (5 - bits)) & 31];
  return out.toString("latin1", 0, n);
}

function symbolValue(ch: string): number {
  const c = ch.toUpperCase();
  if (c === "O") return 0;
  if (c === "I" || c === "L") return 1;
  if (c === "U") return ALPHABET.indexOf("V");
  return ALPHABET.indexOf(c);
}

/**
 * Decodes Crockford base32, case-insensitively, with Taler's aliases (O→0, I/L→1, U→V).
 * Trailing bits that do not fill a byte are dropped, as Taler's decoder does.
 */
export function decodeCrock(text: string): Uint8Array {
  if (typeof text !== "string") throw new WalletError("encoding-invalid-crockford", `Crockford base32 must be a string, got ${describeValue(text)}`);
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of text) {
    const v = symbolValue(ch);
    if (v < 0) throw new WalletError("encoding-invalid-crockford", `invalid Crockford base32 character ${JSON.stringify(ch)}`);
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

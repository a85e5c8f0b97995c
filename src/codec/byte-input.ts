// The exported codec helpers take bytes from JavaScript hosts, which can pass
// anything: a wrong type is a WalletError, never a TypeError from deep inside
// a hash library or, worse, a silently encoded wrong value.
import { describeValue, WalletError } from "../errors.ts";

/** `v` if it is bytes (a Uint8Array, Buffer included); else encoding-invalid-bytes naming `what`. */
export function requireBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new WalletError("encoding-invalid-bytes", `${what} must be bytes (a Uint8Array), got ${describeValue(v)}`);
}

/** `v` if it is bytes or a string (hashed as UTF-8); else encoding-invalid-bytes naming `what`. */
export function requireBytesOrText(v: unknown, what: string): Uint8Array | string {
  if (typeof v === "string") return v;
  return requireBytes(v, `${what} (or a string)`);
}

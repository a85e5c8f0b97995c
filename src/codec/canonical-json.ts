import { WalletError } from "../errors.ts";

// Deeper than any event we write; stops a cyclic value before the JS stack does,
// so the caller gets a typed refusal instead of a RangeError.
const MAX_DEPTH = 1000;

// Thrown inside the recursion and converted once at the top: the path is
// collected while unwinding so the success path never builds path strings.
class NotJson {
  readonly reversedPath: Array<string | number> = [];
  constructor(readonly what: string) {}
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isPrimitiveArray(a: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const t = typeof v;
    if (t === "string" || t === "boolean" || v === null) continue;
    if (t === "number" && Number.isFinite(v)) continue;
    return false;
  }
  return true;
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      // The native stringifier escapes exactly as JSON.stringify must, and is faster than any JS loop.
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new NotJson(`non-finite number ${value}`);
      // String(-0) is "0" and String(1e21) is "1e+21", both matching JSON.stringify.
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (depth >= MAX_DEPTH) throw new NotJson("value nested too deeply (cyclic?)");
      if (Array.isArray(value)) {
        // Arrays of strings, finite numbers, booleans and nulls (a backup's columns hold
        // millions of them): the native stringifier writes them exactly as below, ~10× faster.
        if (isPrimitiveArray(value)) return JSON.stringify(value);
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const item = value[i];
          if (item === undefined) {
            out += "null";
            continue;
          }
          try {
            out += write(item, depth + 1);
          } catch (e) {
            if (e instanceof NotJson) e.reversedPath.push(i);
            throw e;
          }
        }
        return out + "]";
      }
      // Dates, Maps, typed arrays and class instances have no single obvious JSON
      // form; refusing them keeps a payload's hash independent of toJSON quirks.
      if (!isPlainObject(value)) throw new NotJson(`non-plain object ${Object.prototype.toString.call(value)}`);
      const obj = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is the canonical order.
      const keys = Object.keys(obj).sort();
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += JSON.stringify(k);
        out += ":";
        try {
          out += write(v, depth + 1);
        } catch (e) {
          if (e instanceof NotJson) e.reversedPath.push(k);
          throw e;
        }
      }
      return out + "}";
    }
    default:
      // undefined at the top level, bigint, function, symbol.
      throw new NotJson(typeof value);
  }
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace,
 * undefined-valued keys dropped (undefined array items become null), numbers in
 * JavaScript's shortest form. Anything without a JSON form (non-finite numbers,
 * bigint, functions, symbols, non-plain objects, cycles) is a WalletError
 * "encoding-not-json".
 */
export function canonicalJson(value: unknown): string {
  try {
    return write(value, 0);
  } catch (e) {
    if (!(e instanceof NotJson)) throw e;
    const path = e.reversedPath.reverse();
    const where = path.length === 0 ? "the top level" : path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
    throw new WalletError("encoding-not-json", `${e.what} at ${where} has no canonical JSON form`, { path });
  }
}

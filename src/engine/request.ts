// Request validation: each operation declares its payload as a shape of
// field parsers. A parser checks one field's type and turns it into the form
// the handler works with (a canonical URL, a normalized amount), or throws a
// WalletError naming the field. Payloads come from JavaScript callers and from
// JSON over IPC alike, so nothing about them is trusted.
import { normalizeAmount, parseAmount } from "../codec/amounts.ts";
import { canonicalizeBaseUrl } from "../codec/url.ts";
import { DEVICE_ID_PATTERN, isReservedName } from "../events/clock.ts";
import { WalletError, type ErrorCode } from "../errors.ts";
import { MAX_TIME_MS } from "../events/envelope.ts";
import { isKeySafeText } from "../events/records.ts";

export type Parser<T> = (value: unknown, path: string) => T;

/** A field of a request shape: its parser, and whether it may be absent. */
export interface Field<T> {
  readonly parse: Parser<T>;
  readonly optional: boolean;
}

/** Longest id or string that ends up in a store key; LMDB keys hold at most 1,978 bytes. */
export const MAX_ID_BYTES = 512;
/** Longest base URL accepted (it is a key of the exchange records). */
export const MAX_URL_BYTES = 1024;

const invalid = (path: string, what: string, code: ErrorCode = "request-invalid"): WalletError =>
  new WalletError(code, `${path === "" ? "the request" : path} ${what}`, { path });

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const at = (path: string, k: string) => (path === "" ? k : `${path}.${k}`);

export const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

function checkLength(s: string, path: string, max: number): string {
  // Cheap upper bound first: a UTF-8 byte length is at most 3 bytes per UTF-16 unit.
  if (s.length * 3 > max && utf8Length(s) > max) {
    throw new WalletError("request-too-large", `${path} is longer than ${max} bytes`, { path, max });
  }
  return s;
}

export const required = <T>(parse: Parser<T>): Field<T> => ({ parse, optional: false });
export const optional = <T>(parse: Parser<T>): Field<T | undefined> => ({ parse, optional: true });

// ---------------------------------------------------------------- parsers

export const string: Parser<string> = (v, path) => {
  if (typeof v !== "string") throw invalid(path, "must be a string");
  return checkLength(v, path, 64 * 1024);
};

/** A non-empty id of bounded size (coin pubs, group ids, spend ids, etags). */
export const id: Parser<string> = (v, path) => {
  if (typeof v !== "string" || v === "") throw invalid(path, "must be a non-empty string");
  checkLength(v, path, MAX_ID_BYTES);
  if (!isKeySafeText(v)) throw invalid(path, "must not hold a character U+0000-U+0004 or a lone surrogate");
  return v;
};

export const boolean: Parser<boolean> = (v, path) => {
  if (typeof v !== "boolean") throw invalid(path, "must be a boolean");
  return v;
};

/** A time in ms since the epoch, as the host's clock gives it. */
export const timeMs: Parser<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > MAX_TIME_MS) throw invalid(path, "must be a time in ms between 1970 and 9999");
  return v;
};

/** A count of at least 1 (a page size). */
export const positiveCount: Parser<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw invalid(path, "must be a whole number of at least 1");
  return v;
};

export const oneOf =
  <const L extends string>(...values: L[]): Parser<L> =>
  (v, path) => {
    if (typeof v !== "string" || !(values as string[]).includes(v)) {
      throw invalid(path, `must be one of ${values.join(", ")}, got ${JSON.stringify(v)}`);
    }
    return v as L;
  };

/** A base URL, canonicalized; anything that is not one is url-invalid. */
export const baseUrl: Parser<string> = (v, path) => {
  if (typeof v !== "string") throw invalid(path, "must be a base URL string", "url-invalid");
  // The canonical form is what gets stored and keyed, and percent-encoding can make it several times longer.
  return checkLength(canonicalizeBaseUrl(checkLength(v, path, MAX_URL_BYTES)), path, MAX_URL_BYTES);
};

/** An amount string, normalized ("KUDOS:1.50" → "KUDOS:1.5"). */
export const amount: Parser<string> = (v, path) => {
  if (typeof v !== "string") throw invalid(path, 'must be an amount string like "KUDOS:1.5"', "amount-invalid");
  return normalizeAmount(v);
};

/** An amount that is not zero. */
export const positiveAmount: Parser<string> = (v, path) => {
  const a = amount(v, path);
  const p = parseAmount(a);
  if (p.value === 0 && p.fraction === 0) throw invalid(path, "must be positive", "amount-invalid");
  return a;
};

/** One item of an HTTP header's list: visible ASCII, spaces only inside, so it cannot break the header it goes in. */
const HEADER_ITEM = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;
const MAX_HEADER_ITEMS = 32;

const headerItem: Parser<string> = (v, path) => {
  if (typeof v !== "string" || !HEADER_ITEM.test(v)) throw invalid(path, "must be a language tag or media type (visible ASCII, at most 256 characters)");
  return v;
};

/** A language or media-type list sent as an HTTP header (Accept-Language, Accept): one item or several. */
export const headerList: Parser<string[]> = (v, path) => {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) throw invalid(path, "must be a string or an array of strings");
  if (list.length > MAX_HEADER_ITEMS) throw invalid(path, `holds at most ${MAX_HEADER_ITEMS} items`, "request-too-large");
  return each(list, headerItem, path);
};

/** Parses every index, holes of a sparse array included (`map` would skip them and keep the hole). */
function each<T>(list: unknown[], item: Parser<T>, path: string): T[] {
  const out: T[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = item(list[i], `${path}[${i}]`);
  return out;
}

export function array<T>(item: Parser<T>, opts: { min?: number; max?: number } = {}): Parser<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw invalid(path, "must be an array");
    if (opts.min !== undefined && v.length < opts.min) throw invalid(path, `needs at least ${opts.min} item(s)`);
    if (opts.max !== undefined && v.length > opts.max) throw invalid(path, `holds at most ${opts.max} items`, "request-too-large");
    return each(v, item, path);
  };
}

/** A vector clock: device id → positive safe integer. Returned with a null prototype. */
export const vectorClock: Parser<Record<string, number>> = (v, path) => {
  if (typeof v !== "object" || v === null || Array.isArray(v) || !isPlain(v)) throw invalid(path, "must be a vector clock object");
  const out: Record<string, number> = Object.create(null);
  for (const d of Object.keys(v)) {
    const s = (v as Record<string, unknown>)[d];
    if (!DEVICE_ID_PATTERN.test(d) || isReservedName(d)) throw invalid(at(path, d), "is not a device id");
    if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 0) throw invalid(at(path, d), "must be a non-negative integer");
    if (s > 0) out[d] = s;
  }
  return out;
};

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

type Shape = Record<string, Field<unknown>>;
type Parsed<S extends Shape> = {
  [K in keyof S as S[K]["optional"] extends true ? never : K]: S[K] extends Field<infer T> ? T : never;
} & {
  [K in keyof S as S[K]["optional"] extends true ? K : never]?: S[K] extends Field<infer T> ? Exclude<T, undefined> : never;
};

/**
 * An object with exactly these fields (own properties only; unknown ones are
 * refused, so a misspelt field is an error rather than silently ignored).
 * A missing required field is request-invalid.
 */
export function object<S extends Shape>(shape: S): Parser<{ [K in keyof Parsed<S>]: Parsed<S>[K] }> {
  const keys = Object.keys(shape);
  return (v, path) => {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !isPlain(v)) throw invalid(path, "must be an object");
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!hasOwn(shape, k)) throw invalid(at(path, k), "is not a known field");
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const f = shape[k];
      const x = hasOwn(o, k) ? o[k] : undefined;
      if (x === undefined) {
        if (!f.optional) throw invalid(at(path, k), "is required");
        continue;
      }
      out[k] = f.parse(x, at(path, k));
    }
    return out as never;
  };
}

/** A request that takes no payload: undefined, null or an empty object. */
export const nothing: Parser<void> = (v, path) => {
  if (v === undefined || v === null) return;
  object({})(v, path);
};

/** A request whose payload may be omitted entirely. */
export function maybe<T extends object>(p: Parser<T>): Parser<Partial<T>> {
  return (v, path) => (v === undefined || v === null ? {} : p(v, path));
}

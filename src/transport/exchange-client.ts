import { decodeCrock, encodeCrock } from "../codec/crockford.ts";
import { thrownText, type ErrorCode } from "../errors.ts";
import { isKeySafeText } from "../events/records.ts";
import { sha512 } from "../codec/hash.ts";
import { normalizeAmount } from "../codec/amounts.ts";
import { readBodyBounded, withDeadline } from "./deadline.ts";

/** A fetch-compatible HTTP function; the engine never reaches for a global one itself. */
export type HttpClient = (url: string, init?: RequestInit) => Promise<Response>;

/** Seconds since the epoch, or "never" (Taler's `{t_s}`). */
export type Timestamp = number | "never";

export interface DenominationFacts {
  denomPubHash: string;
  cipher: string;
  value: string;
  feeWithdraw: string;
  feeDeposit: string;
  feeRefresh: string;
  feeRefund: string;
  stampStart: Timestamp;
  stampExpireWithdraw: Timestamp;
  stampExpireDeposit: Timestamp;
  stampExpireLegal: Timestamp;
}

export interface SignkeyFacts {
  key: string;
  stampStart: Timestamp;
  stampExpire: Timestamp;
  stampEnd: Timestamp;
}

export interface KeysFacts {
  currency: string;
  masterPub: string;
  version: string;
  reserveClosingDelayUs: number | "forever";
  listIssueDate: Timestamp;
  denominations: DenominationFacts[];
  signkeys: SignkeyFacts[];
}

export type FetchError = { ok: false; code: ErrorCode; message: string; httpStatus?: number };

export type KeysResult =
  | { ok: true; notModified: true }
  | { ok: true; notModified: false; keys: KeysFacts; etag?: string }
  | FetchError;

export interface TermsResult {
  ok: true;
  notModified: boolean;
  etag: string;
  termsVersion?: string;
  content: string;
  contentType: string;
  contentLanguage?: string;
  availableLanguages: string[];
}

/** The exchange protocol this engine speaks (libtool current:revision:age). */
export const ENGINE_EXCHANGE_PROTOCOL_VERSION = "23:0:6";

const DEFAULT_TIMEOUT_MS = 10_000;

/** Parses a libtool version "current:revision:age"; undefined when malformed or age > current. */
export function parseProtocolVersion(v: string): { current: number; revision: number; age: number } | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d{1,9}):(\d{1,9}):(\d{1,9})$/.exec(v);
  if (m === null) return undefined;
  const current = Number(m[1]);
  const revision = Number(m[2]);
  const age = Number(m[3]);
  // An age beyond current would claim support for negative interface numbers.
  if (age > current) return undefined;
  return { current, revision, age };
}

/** Libtool compatibility: each side's current lies within the other's supported range. Malformed versions are never compatible. */
export function isProtocolCompatible(mine: string, theirs: string): boolean {
  const me = parseProtocolVersion(mine);
  const other = parseProtocolVersion(theirs);
  if (me === undefined || other === undefined) return false;
  return me.current - me.age <= other.current && me.current >= other.current - other.age;
}

function fail(code: ErrorCode, message: string, httpStatus?: number): FetchError {
  return httpStatus === undefined ? { ok: false, code, message } : { ok: false, code, message, httpStatus };
}

function stripEtag(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  let t = raw.trim();
  if (t.startsWith("W/")) t = t.slice(2);
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
  return t === "" ? undefined : t;
}

function quoteEtag(etag: string): string {
  // Callers hold etags unquoted, but tolerate one that still carries its quotes.
  return etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"`;
}


function transportFailure(what: string, attempt: { timedOut: boolean; error: unknown }, timeoutMs: number): FetchError {
  if (attempt.timedOut) return fail("exchange-timeout", `${what}: no answer within ${timeoutMs} ms`);
  return fail("exchange-network-error", `${what}: ${thrownText(attempt.error)}`);
}

/** Bounds of what the engine reads: /keys of a large exchange is a few MiB; terms are a document. */
export const MAX_KEYS_BYTES = 16 * 1024 * 1024;
export const MAX_TERMS_BYTES = 4 * 1024 * 1024;
/** An error's body is read for its hint only; the hint goes into shared events, so it stays short. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_HINT_CHARS = 1024;

/** The body as text, or a refusal when it passes `maxBytes` (read no further than that). */
async function boundedText(what: string, resp: Response, maxBytes: number): Promise<string | FetchError> {
  const bytes = await readBodyBounded(resp, maxBytes);
  if (bytes === "too-large") return fail("exchange-response-too-large", `${what}: the body is larger than ${maxBytes} bytes`, resp.status);
  return new TextDecoder().decode(bytes);
}

async function httpErrorFrom(what: string, resp: Response): Promise<FetchError> {
  let hint = "";
  try {
    const text = await boundedText(what, resp, MAX_ERROR_BODY_BYTES);
    const body = typeof text === "string" ? (JSON.parse(text) as unknown) : undefined;
    if (isObject(body) && typeof body.hint === "string") {
      hint = `: ${body.hint.length > MAX_HINT_CHARS ? `${body.hint.slice(0, MAX_HINT_CHARS)}…` : body.hint}`;
    }
  } catch {
    // The status alone is the error; an unreadable body adds nothing.
  }
  return fail("exchange-http-error", `${what}: HTTP ${resp.status}${hint}`, resp.status);
}

/** A 304 the engine did not ask for (no If-None-Match) confirms nothing: it is an HTTP error like any other. */
async function unaskedNotModified(what: string, resp: Response): Promise<FetchError> {
  await resp.body?.cancel().catch(() => {});
  return fail("exchange-http-error", `${what}: HTTP 304 to a request without If-None-Match`, resp.status);
}

// ---- /keys ----------------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// Thrown only inside the parser, turned into a FetchError at its boundary.
type KeysInvalid = { keysInvalid: true; path: string; expected: string };

function invalidAt(path: string, expected: string): KeysInvalid {
  return { keysInvalid: true, path, expected };
}

function isKeysInvalid(e: unknown): e is KeysInvalid {
  return isObject(e) && e.keysInvalid === true;
}

function field(obj: Json, name: string, at: string): { value: unknown; path: string } {
  const path = at === "" ? name : `${at}.${name}`;
  return { value: obj[name], path };
}

function str(obj: Json, name: string, at: string): string {
  const { value, path } = field(obj, name, at);
  if (typeof value !== "string" || value === "") throw invalidAt(path, "a non-empty string");
  return value;
}

function obj(value: unknown, path: string): Json {
  if (!isObject(value)) throw invalidAt(path, "an object");
  return value;
}

function arr(o: Json, name: string, at: string): { items: unknown[]; path: string } {
  const { value, path } = field(o, name, at);
  if (!Array.isArray(value)) throw invalidAt(path, "an array");
  return { items: value, path };
}

function timestamp(o: Json, name: string, at: string): Timestamp {
  const { value, path } = field(o, name, at);
  if (!isObject(value)) throw invalidAt(path, 'a timestamp {t_s: number | "never"}');
  const t = value.t_s;
  if (t === "never") return "never";
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0) {
    throw invalidAt(`${path}.t_s`, 'a non-negative integer or "never"');
  }
  return t;
}

function amount(o: Json, name: string, at: string, currency: string): string {
  const { path } = field(o, name, at);
  const raw = str(o, name, at);
  let normalized: string;
  try {
    normalized = normalizeAmount(raw);
  } catch {
    throw invalidAt(path, 'an amount "CUR:V.F"');
  }
  if (!normalized.startsWith(`${currency}:`)) throw invalidAt(path, `an amount in ${currency}`);
  return normalized;
}

function crockString(o: Json, name: string, at: string): string {
  const { path } = field(o, name, at);
  const s = str(o, name, at);
  try {
    decodeCrock(s);
  } catch {
    throw invalidAt(path, "Crockford base32");
  }
  return s;
}

function hashDenomPub(pub: string): string {
  let bytes: Uint8Array;
  try {
    bytes = decodeCrock(pub);
  } catch {
    // Keeps a stable identity even for keys in an encoding we do not know.
    return encodeCrock(sha512(pub));
  }
  return encodeCrock(sha512(bytes));
}

function parseDenominations(root: Json, currency: string): DenominationFacts[] {
  const groups = arr(root, "denominations", "");
  const out: DenominationFacts[] = [];
  groups.items.forEach((g, gi) => {
    const gPath = `${groups.path}[${gi}]`;
    const group = obj(g, gPath);
    const cipher = str(group, "cipher", gPath);
    const value = amount(group, "value", gPath, currency);
    const feeWithdraw = amount(group, "fee_withdraw", gPath, currency);
    const feeDeposit = amount(group, "fee_deposit", gPath, currency);
    const feeRefresh = amount(group, "fee_refresh", gPath, currency);
    const feeRefund = amount(group, "fee_refund", gPath, currency);
    const denoms = arr(group, "denoms", gPath);
    denoms.items.forEach((d, di) => {
      const dPath = `${denoms.path}[${di}]`;
      const denom = obj(d, dPath);
      str(denom, "master_sig", dPath);
      const stampStart = timestamp(denom, "stamp_start", dPath);
      const stampExpireWithdraw = timestamp(denom, "stamp_expire_withdraw", dPath);
      const stampExpireDeposit = timestamp(denom, "stamp_expire_deposit", dPath);
      const stampExpireLegal = timestamp(denom, "stamp_expire_legal", dPath);
      let pub: string;
      if (denom.rsa_pub !== undefined) pub = str(denom, "rsa_pub", dPath);
      else if (denom.cs_pub !== undefined) pub = str(denom, "cs_pub", dPath);
      else throw invalidAt(`${dPath}.rsa_pub`, "a public key (rsa_pub or cs_pub)");
      out.push({
        denomPubHash: hashDenomPub(pub),
        cipher,
        value,
        feeWithdraw,
        feeDeposit,
        feeRefresh,
        feeRefund,
        stampStart,
        stampExpireWithdraw,
        stampExpireDeposit,
        stampExpireLegal,
      });
    });
  });
  // Plain code-unit order, not localeCompare: the facts must not depend on the host's locale.
  out.sort((a, b) => (a.denomPubHash < b.denomPubHash ? -1 : a.denomPubHash > b.denomPubHash ? 1 : 0));
  return out;
}

function parseSignkeys(root: Json): SignkeyFacts[] {
  const list = arr(root, "signkeys", "");
  return list.items.map((k, i) => {
    const path = `${list.path}[${i}]`;
    const sk = obj(k, path);
    return {
      key: crockString(sk, "key", path),
      stampStart: timestamp(sk, "stamp_start", path),
      stampExpire: timestamp(sk, "stamp_expire", path),
      stampEnd: timestamp(sk, "stamp_end", path),
    };
  });
}

/**
 * Reads the fields the engine needs from a parsed /keys body. Unknown fields
 * are ignored; the first missing or wrongly typed field is named by its path.
 */
export function parseKeys(body: unknown): { ok: true; keys: KeysFacts } | FetchError {
  if (!isObject(body)) return fail("exchange-malformed-response", "/keys: body is not a JSON object");
  try {
    const version = str(body, "version", "");
    const currency = str(body, "currency", "");
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,11}$/.test(currency)) throw invalidAt("currency", "a currency code");
    const masterPub = crockString(body, "master_public_key", "");
    const delay = obj(body.reserve_closing_delay, "reserve_closing_delay");
    const dUs = delay.d_us;
    if (dUs !== "forever" && (typeof dUs !== "number" || !Number.isSafeInteger(dUs) || dUs < 0)) {
      throw invalidAt("reserve_closing_delay.d_us", 'a non-negative integer or "forever"');
    }
    const listIssueDate = timestamp(body, "list_issue_date", "");
    const signkeys = parseSignkeys(body);
    const denominations = parseDenominations(body, currency);
    return {
      ok: true,
      keys: { currency, masterPub, version, reserveClosingDelayUs: dUs, listIssueDate, denominations, signkeys },
    };
  } catch (e) {
    if (isKeysInvalid(e)) {
      return fail("exchange-keys-invalid", `/keys: missing or invalid field ${e.path} (expected ${e.expected})`);
    }
    return fail("exchange-keys-invalid", `/keys: ${thrownText(e)}`);
  }
}

/**
 * GET `${baseUrl}keys` through `http`. Sends If-None-Match for a known etag
 * (304 → notModified). Never throws: every failure is a FetchError.
 */
export async function fetchKeys(
  http: HttpClient,
  baseUrl: string,
  opts: { timeoutMs?: number; etag?: string; signal?: AbortSignal } = {},
): Promise<KeysResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.etag !== undefined && opts.etag !== "") headers["If-None-Match"] = quoteEtag(opts.etag);
  const url = `${baseUrl}keys`;

  const attempt = await withDeadline(timeoutMs, async (signal): Promise<KeysResult> => {
    const resp = await http(url, { method: "GET", headers, signal });
    if (resp.status === 304) {
      if (headers["If-None-Match"] === undefined) return unaskedNotModified("/keys", resp);
      await resp.body?.cancel().catch(() => {});
      return { ok: true, notModified: true };
    }
    if (!resp.ok) return httpErrorFrom("/keys", resp);
    const text = await boundedText("/keys", resp, MAX_KEYS_BYTES);
    if (typeof text !== "string") return text;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return fail("exchange-malformed-response", "/keys: body is not valid JSON", resp.status);
    }
    const parsed = parseKeys(body);
    if (!parsed.ok) return parsed;
    const etag = stripEtag(resp.headers.get("ETag"));
    return etag === undefined
      ? { ok: true, notModified: false, keys: parsed.keys }
      : { ok: true, notModified: false, keys: parsed.keys, etag };
  }, opts.signal);
  return attempt.done ? attempt.value : transportFailure(`GET ${url}`, attempt, timeoutMs);
}

// ---- /terms ---------------------------------------------------------------

function splitList(header: string | null): string[] {
  if (header === null) return [];
  return header
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function mimeOnly(contentType: string | null): string {
  // Callers compare mime types; charset and other parameters are transport detail.
  if (contentType === null) return "text/plain";
  const mime = contentType.split(";")[0].trim().toLowerCase();
  return mime === "" ? "text/plain" : mime;
}

/** The terms' version tag becomes an id in the events that record it, which bound ids to 512 bytes. */
const MAX_TERMS_ETAG_BYTES = 512;

/**
 * Refuses a version tag no offer event could record, as the exchange's fault: recorded, it would be
 * an invalid event and abort the whole update, /keys included.
 */
function unrecordableEtag(etag: string, status: number): FetchError | undefined {
  if (etag === "") return fail("exchange-terms-invalid", "/terms: response has neither ETag nor Taler-Terms-Version (nor, on a 304, a version it confirms)", status);
  if (Buffer.byteLength(etag) > MAX_TERMS_ETAG_BYTES) return fail("exchange-terms-invalid", `/terms: ETag longer than ${MAX_TERMS_ETAG_BYTES} bytes`, status);
  if (!isKeySafeText(etag)) return fail("exchange-terms-invalid", "/terms: ETag holds a character a record key cannot hold", status);
  return undefined;
}

/**
 * GET `${baseUrl}terms` with content negotiation. On 304 (known etag still
 * current) returns notModified with that etag and empty content. Never throws.
 */
export async function fetchTerms(
  http: HttpClient,
  baseUrl: string,
  opts: { acceptLanguage?: string[]; acceptFormat?: string[]; timeoutMs?: number; etag?: string; signal?: AbortSignal } = {},
): Promise<TermsResult | FetchError> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const formats = opts.acceptFormat !== undefined && opts.acceptFormat.length > 0 ? opts.acceptFormat : ["text/plain"];
  const headers: Record<string, string> = { Accept: formats.join(", ") };
  if (opts.acceptLanguage !== undefined && opts.acceptLanguage.length > 0) {
    headers["Accept-Language"] = opts.acceptLanguage.join(", ");
  }
  if (opts.etag !== undefined && opts.etag !== "") headers["If-None-Match"] = quoteEtag(opts.etag);
  const url = `${baseUrl}terms`;

  const attempt = await withDeadline(timeoutMs, async (signal): Promise<TermsResult | FetchError> => {
    const resp = await http(url, { method: "GET", headers, signal });
    const termsVersion = resp.headers.get("Taler-Terms-Version")?.trim() || undefined;
    const availableLanguages = splitList(resp.headers.get("Avail-Languages"));
    if (resp.status === 304) {
      if (headers["If-None-Match"] === undefined) return unaskedNotModified("/terms", resp);
      await resp.body?.cancel().catch(() => {});
      const etag = stripEtag(resp.headers.get("ETag")) ?? stripEtag(opts.etag ?? null) ?? termsVersion ?? "";
      const refused = unrecordableEtag(etag, resp.status);
      if (refused) return refused;
      const out: TermsResult = { ok: true, notModified: true, etag, content: "", contentType: "", availableLanguages };
      if (termsVersion !== undefined) out.termsVersion = termsVersion;
      return out;
    }
    if (!resp.ok) return httpErrorFrom("/terms", resp);
    const etag = stripEtag(resp.headers.get("ETag")) ?? termsVersion ?? "";
    const refused = unrecordableEtag(etag, resp.status);
    if (refused) {
      await resp.body?.cancel().catch(() => {});
      return refused;
    }
    const content = await boundedText("/terms", resp, MAX_TERMS_BYTES);
    if (typeof content !== "string") return content;
    const out: TermsResult = {
      ok: true,
      notModified: false,
      etag,
      content,
      contentType: mimeOnly(resp.headers.get("Content-Type")),
      availableLanguages,
    };
    if (termsVersion !== undefined) out.termsVersion = termsVersion;
    const lang = resp.headers.get("Content-Language")?.trim();
    if (lang) out.contentLanguage = lang;
    return out;
  }, opts.signal);
  return attempt.done ? attempt.value : transportFailure(`GET ${url}`, attempt, timeoutMs);
}

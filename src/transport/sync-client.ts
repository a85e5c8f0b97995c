// The sync protocol from the client's side, transport only: it knows keys,
// hashes, signatures and HTTP, and nothing of the wallet's state. Every
// function answers with a result; none throws, none waits past its deadline.
import { decodeCrock, encodeCrock } from "../codec/crockford.ts";
import { sha512 } from "../codec/hash.ts";
import { kdf } from "../codec/kdf.ts";
import { eddsaPublicFromSeed } from "../codec/keys.ts";
import { normalizeAmount, type AmountString } from "../codec/amounts.ts";
import { canonicalizeBaseUrl } from "../codec/url.ts";
import { thrownText, WalletError } from "../errors.ts";
import { readBodyBounded, withDeadline, type Attempt } from "./deadline.ts";
import type { HttpClient } from "./exchange-client.ts";
import { parseHashHeader, parseSignatureHeader, signSyncUpload, unquote, verifySyncUpload, ZERO_HASH } from "./sync-protocol.ts";

export { syncSignaturePayload, SYNC_PURPOSE_BACKUP_UPLOAD } from "./sync-protocol.ts";

export interface SyncAccountKey {
  /** The Ed25519 private seed of the account at this provider. */
  seed: Uint8Array;
  /** Its public key, Crockford: the $ACCOUNT of /backups/$ACCOUNT. */
  pub: string;
}

export type SyncClientError = { kind: "error"; code: string; message: string; httpStatus?: number };

export interface SyncProviderConfig {
  name: "sync";
  version: string;
  storageLimitInMegabytes: number;
  annualFee: AmountString;
  liabilityLimit?: AmountString;
}

export type SyncConfigResult = ({ kind: "ok" } & SyncProviderConfig) | SyncClientError;

/** A backup as the provider holds it, its signature checked against the account key. */
export interface SyncBackup {
  blob: Uint8Array;
  /** SHA-512 of `blob`, Crockford. */
  hash: string;
  /** The hash of the backup it replaced; absent for an account's first. */
  prevHash?: string;
  signature: string;
}

export type SyncDownloadResult = { kind: "none" } | ({ kind: "ok" } & SyncBackup) | SyncClientError;

/** A download asked with `ifNoneMatch`: also `not-modified` when the provider still holds that backup (HTTP 304, no body). */
export type SyncConditionalDownloadResult = SyncDownloadResult | { kind: "not-modified"; hash: string };

export type SyncUploadResult =
  | { kind: "stored"; hash: string }
  | { kind: "not-modified"; hash: string }
  | ({ kind: "conflict" } & SyncBackup)
  | { kind: "payment-required"; talerUri: string }
  | SyncClientError;

export interface SyncRequestOptions {
  /** Deadline for the whole request, body included (default 30 s). */
  timeoutMs?: number;
  /**
   * Largest blob accepted from a provider (default 64 MiB), and the largest an
   * upload sends: a backup this client could not read back is never stored.
   */
  maxBlobBytes?: number;
  /** Ends the request early, as its deadline would (a wallet closing). */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024;
/** GNU Taler's TALER_EC_SYNC_PREVIOUS_BACKUP_UNKNOWN. */
const EC_PREVIOUS_BACKUP_UNKNOWN = 6111;

/**
 * One request, sent again once when the connection failed before any answer:
 * a pooled keep-alive connection the provider closed (a restart) fails
 * that way. Safe for every sync request: GETs are idempotent, and an upload is
 * a compare-and-swap on the same body and If-Match, answered 204, 304 or 409.
 */
async function send(http: HttpClient, url: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  try {
    return await http(url, init);
  } catch (e) {
    if (init.signal.aborted) throw e;
    return http(url, init);
  }
}

/**
 * The account key for one provider: seed = kdf(32, rootSeed,
 * "taler-sync-account-key-salt", canonical provider URL). Throws a
 * WalletError for a root seed that is not 32 bytes or an invalid URL.
 */
export function deriveSyncAccountKey(rootSeed: Uint8Array, providerBaseUrl: string): SyncAccountKey {
  if (!(rootSeed instanceof Uint8Array) || rootSeed.length !== 32) {
    throw new WalletError("key-invalid-seed", "the wallet root seed must be 32 bytes");
  }
  const seed = kdf(32, rootSeed, "taler-sync-account-key-salt", canonicalizeBaseUrl(providerBaseUrl));
  return { seed, pub: encodeCrock(eddsaPublicFromSeed(seed)) };
}

function fail(code: string, message: string, httpStatus?: number): SyncClientError {
  return httpStatus === undefined ? { kind: "error", code, message } : { kind: "error", code, message, httpStatus };
}


function transportFailure(what: string, attempt: Extract<Attempt<unknown>, { done: false }>, timeoutMs: number): SyncClientError {
  if (attempt.timedOut) return fail("sync-timeout", `${what}: no complete answer within ${timeoutMs} ms`);
  return fail("sync-network-error", `${what}: ${thrownText(attempt.error)}`);
}

function baseOf(baseUrl: string): string | SyncClientError {
  try {
    return canonicalizeBaseUrl(baseUrl);
  } catch (e) {
    return fail("url-invalid", e instanceof Error ? e.message : String(e));
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The provider's `{code, hint}` error, when it sent one. */
async function errorBody(resp: Response): Promise<{ code?: number; hint?: string }> {
  try {
    const text = await resp.text();
    const body = JSON.parse(text) as unknown;
    if (!isObject(body)) return {};
    return {
      code: typeof body.code === "number" ? body.code : undefined,
      hint: typeof body.hint === "string" ? body.hint : undefined,
    };
  } catch {
    return {};
  }
}

async function httpError(what: string, resp: Response): Promise<SyncClientError> {
  const { code, hint } = await errorBody(resp);
  const detail = [code === undefined ? "" : ` (code ${code})`, hint === undefined ? "" : `: ${hint}`].join("");
  return fail("sync-http-error", `${what}: HTTP ${resp.status}${detail}`, resp.status);
}

/**
 * Reads a backup response (a GET's 200 or an upload's 409) and checks it:
 * the ETag is the body's hash and Sync-Signature is the account's signature
 * over (Sync-Previous or zeros, that hash).
 */
async function readSignedBackup(
  what: string,
  resp: Response,
  accountPub: Uint8Array,
  maxBlobBytes: number,
): Promise<({ kind: "ok" } & SyncBackup) | SyncClientError> {
  const sigHeader = resp.headers.get("Sync-Signature");
  const signature = parseSignatureHeader(sigHeader);
  if (signature === undefined) {
    await resp.body?.cancel().catch(() => {});
    const why = sigHeader === null ? "has no Sync-Signature" : "has a malformed Sync-Signature";
    return fail("sync-malformed-response", `${what}: the backup ${why}`, resp.status);
  }
  const prevHeader = resp.headers.get("Sync-Previous");
  let prevHash: string | undefined;
  if (prevHeader !== null && unquote(prevHeader) !== "") {
    prevHash = parseHashHeader(prevHeader);
    if (prevHash === undefined) {
      await resp.body?.cancel().catch(() => {});
      return fail("sync-malformed-response", `${what}: Sync-Previous is not a Crockford SHA-512 hash`, resp.status);
    }
    // GNU's sync sends zeros for "no previous backup".
    if (prevHash === ZERO_HASH) prevHash = undefined;
  }
  const blob = await readBodyBounded(resp, maxBlobBytes);
  if (blob === "too-large") {
    return fail("sync-backup-too-large", `${what}: the provider's backup exceeds ${maxBlobBytes} bytes`, resp.status);
  }
  const hash = encodeCrock(sha512(blob));
  const etagHeader = resp.headers.get("ETag");
  if (etagHeader !== null) {
    const etag = parseHashHeader(etagHeader);
    if (etag !== hash) {
      return fail("sync-bad-etag", `${what}: the ETag is not the SHA-512 of the body`, resp.status);
    }
  }
  if (!verifySyncUpload(accountPub, prevHash, hash, decodeCrock(signature))) {
    return fail("sync-bad-signature", `${what}: the backup is not signed by this account's key`, resp.status);
  }
  const out: { kind: "ok" } & SyncBackup = { kind: "ok", blob, hash, signature };
  if (prevHash !== undefined) out.prevHash = prevHash;
  return out;
}

/** GET `${baseUrl}config`: a sync provider's terms; anything that is not one is `sync-not-a-provider`. */
export async function syncGetConfig(http: HttpClient, baseUrl: string, opts: SyncRequestOptions = {}): Promise<SyncConfigResult> {
  const base = baseOf(baseUrl);
  if (typeof base !== "string") return base;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const url = `${base}config`;
  const attempt = await withDeadline(timeoutMs, async (signal): Promise<SyncConfigResult> => {
    const resp = await send(http, url, { method: "GET", headers: { Accept: "application/json" }, signal });
    if (resp.status === 404) {
      await resp.body?.cancel().catch(() => {});
      return fail("sync-not-a-provider", `${url}: not found (HTTP 404); is this a sync provider's base URL?`, 404);
    }
    if (!resp.ok) return httpError(`GET ${url}`, resp);
    const text = await readBodyBounded(resp, 1024 * 1024);
    let body: unknown;
    try {
      if (text === "too-large") throw new Error("too large");
      body = JSON.parse(new TextDecoder().decode(text));
    } catch {
      return fail("sync-not-a-provider", `${url}: the answer is not a JSON configuration`, resp.status);
    }
    if (!isObject(body) || body.name !== "sync") {
      return fail("sync-not-a-provider", `${url}: the configuration does not name a sync service`, resp.status);
    }
    const limit = body.storage_limit_in_megabytes;
    if (typeof body.version !== "string" || typeof limit !== "number" || !Number.isFinite(limit) || limit < 0) {
      return fail("sync-malformed-response", `${url}: version or storage_limit_in_megabytes missing or invalid`, resp.status);
    }
    let annualFee: AmountString;
    let liabilityLimit: AmountString | undefined;
    try {
      annualFee = normalizeAmount(body.annual_fee as string);
      if (body.liability_limit !== undefined) liabilityLimit = normalizeAmount(body.liability_limit as string);
    } catch {
      return fail("sync-malformed-response", `${url}: annual_fee or liability_limit is not an amount`, resp.status);
    }
    const out: { kind: "ok" } & SyncProviderConfig = {
      kind: "ok",
      name: "sync",
      version: body.version,
      storageLimitInMegabytes: limit,
      annualFee,
    };
    if (liabilityLimit !== undefined) out.liabilityLimit = liabilityLimit;
    return out;
  }, opts.signal);
  return attempt.done ? attempt.value : transportFailure(`GET ${url}`, attempt, timeoutMs);
}

/** The account's public key and its /backups URL at the provider, or why there is none. */
function accountTarget(baseUrl: string, accountSeed: Uint8Array): { pub: Uint8Array; url: string } | SyncClientError {
  const base = baseOf(baseUrl);
  if (typeof base !== "string") return base;
  try {
    const pub = eddsaPublicFromSeed(accountSeed);
    return { pub, url: `${base}backups/${encodeCrock(pub)}` };
  } catch (e) {
    return fail("key-invalid-seed", e instanceof Error ? e.message : String(e));
  }
}

/**
 * GET the account's backup: `none` when the provider has none (404, 204), else
 * the verified backup. With `ifNoneMatch` (the hash of the backup this device
 * already has) the provider answers 304 without the body when it still holds
 * that one: `not-modified`.
 */
export function syncDownload(
  http: HttpClient,
  baseUrl: string,
  accountSeed: Uint8Array,
  opts?: SyncRequestOptions & { ifNoneMatch?: undefined },
): Promise<SyncDownloadResult>;
export function syncDownload(
  http: HttpClient,
  baseUrl: string,
  accountSeed: Uint8Array,
  opts: SyncRequestOptions & { ifNoneMatch?: string },
): Promise<SyncConditionalDownloadResult>;
export async function syncDownload(
  http: HttpClient,
  baseUrl: string,
  accountSeed: Uint8Array,
  opts: SyncRequestOptions & { ifNoneMatch?: string } = {},
): Promise<SyncConditionalDownloadResult> {
  const target = accountTarget(baseUrl, accountSeed);
  if ("kind" in target) return target;
  const { pub, url } = target;
  let ifNoneMatch: string | undefined;
  if (opts.ifNoneMatch !== undefined) {
    ifNoneMatch = parseHashHeader(opts.ifNoneMatch);
    if (ifNoneMatch === undefined) return fail("sync-invalid-hash", "ifNoneMatch must be a Crockford SHA-512 hash (103 characters)");
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBlobBytes = opts.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  // Quoted, as the provider's ETag is.
  const headers: Record<string, string> = ifNoneMatch === undefined ? {} : { "If-None-Match": `"${ifNoneMatch}"` };
  const attempt = await withDeadline(timeoutMs, async (signal): Promise<SyncConditionalDownloadResult> => {
    const resp = await send(http, url, { method: "GET", headers, signal });
    if (resp.status === 404 || resp.status === 204) {
      await resp.body?.cancel().catch(() => {});
      return { kind: "none" };
    }
    if (resp.status === 304 && ifNoneMatch !== undefined) {
      await resp.body?.cancel().catch(() => {});
      return { kind: "not-modified", hash: ifNoneMatch };
    }
    if (resp.status !== 200) return httpError(`GET ${url}`, resp);
    return readSignedBackup(`GET ${url}`, resp, pub, maxBlobBytes);
  }, opts.signal);
  return attempt.done ? attempt.value : transportFailure(`GET ${url}`, attempt, timeoutMs);
}

/**
 * POST `blob` as the account's new backup, replacing the one whose hash is
 * `ifMatch` (none: a first upload). A 409 comes back as `conflict` with the
 * provider's backup, verified like a download.
 */
export async function syncUpload(
  http: HttpClient,
  baseUrl: string,
  accountSeed: Uint8Array,
  blob: Uint8Array,
  opts: SyncRequestOptions & { ifMatch?: string } = {},
): Promise<SyncUploadResult> {
  const target = accountTarget(baseUrl, accountSeed);
  if ("kind" in target) return target;
  const { pub, url } = target;
  let ifMatch: string | undefined;
  if (opts.ifMatch !== undefined) {
    ifMatch = parseHashHeader(opts.ifMatch);
    if (ifMatch === undefined) return fail("sync-invalid-hash", "ifMatch must be a Crockford SHA-512 hash (103 characters)");
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBlobBytes = opts.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  if (blob.length > maxBlobBytes) {
    // Every read (a download, a 409's body, a recovery) refuses it: storing it would strand the account.
    return fail("sync-backup-too-large", `POST ${url}: the backup is ${blob.length} bytes, over the ${maxBlobBytes} bytes this client reads back; not uploaded`);
  }
  const hash = encodeCrock(sha512(blob));
  const signature = signSyncUpload(accountSeed, ifMatch, hash);
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Sync-Signature": signature,
    "If-None-Match": `"${hash}"`,
  };
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  const what = `POST ${url}`;

  const attempt = await withDeadline(timeoutMs, async (signal): Promise<SyncUploadResult> => {
    // A copy on its own ArrayBuffer: what fetch's BodyInit accepts, and immune to the caller reusing `blob`.
    const body = new Uint8Array(blob) as Uint8Array<ArrayBuffer>;
    const resp = await send(http, url, { method: "POST", headers, body, signal });
    switch (resp.status) {
      case 204:
      case 200:
        await resp.body?.cancel().catch(() => {});
        return { kind: "stored", hash };
      case 304:
        await resp.body?.cancel().catch(() => {});
        return { kind: "not-modified", hash };
      case 402: {
        const talerUri = resp.headers.get("Taler")?.trim();
        await resp.body?.cancel().catch(() => {});
        if (!talerUri) return fail("sync-malformed-response", `${what}: payment required, but no Taler header to pay with`, 402);
        return { kind: "payment-required", talerUri };
      }
      case 409: {
        if (resp.headers.get("Sync-Signature") === null) {
          const { code, hint } = await errorBody(resp);
          if (code === EC_PREVIOUS_BACKUP_UNKNOWN) {
            return fail("sync-previous-backup-unknown", `${what}: the provider has no backup ${ifMatch ?? ""} to replace; upload without ifMatch`, 409);
          }
          return fail("sync-malformed-response", `${what}: a conflict without the provider's backup${hint ? `: ${hint}` : ""}`, 409);
        }
        const current = await readSignedBackup(what, resp, pub, maxBlobBytes);
        if (current.kind === "error") return current;
        const { kind: _ok, ...backup } = current;
        return { kind: "conflict", ...backup };
      }
      case 404: {
        // GNU's sync answers a replacement of a backup it does not have with 404 and this code.
        const { code, hint } = await errorBody(resp);
        if (code === EC_PREVIOUS_BACKUP_UNKNOWN) {
          return fail("sync-previous-backup-unknown", `${what}: the provider has no backup ${ifMatch ?? ""} to replace; upload without ifMatch`, 404);
        }
        return fail("sync-http-error", `${what}: HTTP 404${hint ? `: ${hint}` : ""}`, 404);
      }
      case 413: {
        const { hint } = await errorBody(resp);
        return fail("sync-backup-too-large", `${what}: the provider refuses a backup of ${blob.length} bytes${hint ? `: ${hint}` : ""}`, 413);
      }
      case 403:
        await resp.body?.cancel().catch(() => {});
        return fail("sync-signature-rejected", `${what}: the provider rejected the upload signature`, 403);
      default:
        return httpError(what, resp);
    }
  }, opts.signal);
  return attempt.done ? attempt.value : transportFailure(what, attempt, timeoutMs);
}

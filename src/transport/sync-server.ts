// A sync provider speaking GNU Taler's sync protocol (DESIGN.md, "The sync
// protocol"): GET /config, GET and POST /backups/$ACCOUNT_PUB. Node's http
// module only; storage behind the SyncStore interface (LMDB or PostgreSQL).
//
// Error bodies are `{code, hint}` with `code` a number from GNU Taler's
// TALER_EC table (2021 numbering), so GNU wallets read them as they read
// GNU's sync. The one status without a TALER_EC (402) uses
// SYNC_PAYMENT_REQUIRED below, a number of this server's own.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { decodeCrock, encodeCrock } from "../codec/crockford.ts";
import { sha512 } from "../codec/hash.ts";
import { normalizeAmount, parseAmount, type AmountString } from "../codec/amounts.ts";
import { describeValue, WalletError } from "../errors.ts";
import { MAX_TIMER_MS } from "./deadline.ts";
import {
  parseAccountPub,
  parseHashHeader,
  parseSignatureHeader,
  verifySyncUpload,
  ZERO_HASH,
} from "./sync-protocol.ts";
import { decideCas, type StoredBackup, type SyncStore } from "./sync-store.ts";
import { openLmdbSyncStore } from "./sync-store-lmdb.ts";

/** The TALER_EC numbers this server answers with. */
export const SyncErrorCode = {
  GENERIC_METHOD_INVALID: 20,
  GENERIC_ENDPOINT_UNKNOWN: 21,
  GENERIC_PARAMETER_MALFORMED: 26,
  GENERIC_UPLOAD_EXCEEDS_LIMIT: 32,
  GENERIC_DB_STORE_FAILED: 52,
  GENERIC_DB_FETCH_FAILED: 53,
  GENERIC_INTERNAL_INVARIANT_FAILURE: 60,
  SYNC_ACCOUNT_UNKNOWN: 6100,
  SYNC_BAD_IF_NONE_MATCH: 6101,
  SYNC_BAD_IF_MATCH: 6102,
  SYNC_BAD_SYNC_SIGNATURE: 6103,
  SYNC_INVALID_SIGNATURE: 6104,
  SYNC_MALFORMED_CONTENT_LENGTH: 6105,
  SYNC_EXCESSIVE_CONTENT_LENGTH: 6106,
  SYNC_INVALID_UPLOAD: 6108,
  SYNC_PREVIOUS_BACKUP_UNKNOWN: 6111,
  /** Not in GNU's table (GNU's sync answers 402 with an empty body): this server's own. */
  SYNC_PAYMENT_REQUIRED: 6199,
  /** Not in GNU's table: the request was not received in time (408). */
  SYNC_REQUEST_TIMEOUT: 6198,
} as const;

export interface SyncServerOptions {
  /** 0 picks a free port (the default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Directory of the LMDB store: required unless `postgres` is given (then unused). */
  path?: string;
  /** Largest accepted backup (default 16). */
  storageLimitInMegabytes?: number;
  /** Annual fee, e.g. "KUDOS:0.5"; zero or absent (answered as "KUDOS:0") means free. */
  annualFee?: AmountString;
  /** Advertised in /config; default zero in the fee's currency. */
  liabilityLimit?: AmountString;
  /** A PostgreSQL connection URL: use the PostgreSQL backend instead of LMDB. */
  postgres?: string;
  /** Longest time to receive a whole request, body included (default 120 s). */
  requestTimeoutMs?: number;
  /** Longest time to receive a request's headers (default 20 s). */
  headersTimeoutMs?: number;
  /** One line per request; none by default. */
  log?: (line: string) => void;
}

export interface SyncServer {
  /** "http://HOST:PORT/", always with the trailing slash. */
  baseUrl: string;
  /** Stops accepting, lets requests in flight finish (briefly), closes the store. */
  close(): Promise<void>;
  /** Test-only switch standing in for a completed payment of the annual fee. */
  markPaid(accountPub: string): Promise<void>;
}

const MIB = 1024 * 1024;
const CLOSE_GRACE_MS = 2_000;

const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Expose-Headers": "ETag, Sync-Signature, Sync-Previous, Taler",
};

const PREFLIGHT_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, If-Match, If-None-Match, Sync-Signature",
  "Access-Control-Max-Age": "86400",
};

/**
 * Largest storage limit accepted: 500 MiB, the same for both stores. A body is held as one Buffer
 * before it is stored, and PostgreSQL hands a bytea to node-pg as hex text, two bytes per byte,
 * within its 1 GB allocation limit: a blob over ~512 MiB is stored but can never be read back (and
 * every later upload to the account fails on its compare-and-swap read). Backups are megabytes.
 */
export const MAX_STORAGE_LIMIT_MB = 500;

function invalidOption(message: string): WalletError {
  return new WalletError("sync-server-invalid-option", message);
}

function amountOption(name: string, v: unknown): AmountString {
  if (typeof v !== "string") throw invalidOption(`${name} must be an amount such as "KUDOS:0.5"`);
  try {
    return normalizeAmount(v);
  } catch (e) {
    throw invalidOption(`${name}: ${e instanceof Error ? e.message : "not an amount"}`);
  }
}

/** What one response carried, for the log line. */
interface Exchange {
  bytesIn: number;
  bytesOut: number;
}

function send(
  res: ServerResponse,
  ex: Exchange,
  status: number,
  headers: Record<string, string>,
  body?: Uint8Array | string,
): void {
  if (res.headersSent || res.destroyed) return;
  const bytes = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, { ...CORS_HEADERS, ...headers, ...(bytes === undefined ? {} : { "Content-Length": String(bytes.length) }) });
  ex.bytesOut = bytes?.length ?? 0;
  res.end(bytes);
}

function sendJson(res: ServerResponse, ex: Exchange, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, ex, status, { "Content-Type": "application/json", ...headers }, JSON.stringify(value));
}

function sendError(
  res: ServerResponse,
  ex: Exchange,
  status: number,
  code: number,
  hint: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, ex, status, { code, hint }, headers);
}

function backupHeaders(b: StoredBackup): Record<string, string> {
  return {
    "Content-Type": "application/octet-stream",
    ETag: `"${b.hash}"`,
    "Sync-Signature": b.signature,
    // GNU's sync names a first backup's predecessor as the all-zero hash rather than leaving the header out.
    "Sync-Previous": b.prevHash ?? ZERO_HASH,
  };
}

type BodyRead = { kind: "ok"; body: Uint8Array } | { kind: "too-large" } | { kind: "aborted" };

/**
 * Reads the request body, never holding more than `limit` bytes: past the
 * limit it stops collecting and lets the rest flow away unbuffered.
 */
function readBody(req: IncomingMessage, limit: number, ex: Exchange): Promise<BodyRead> {
  return new Promise((resolve) => {
    // Gone while the handler awaited something else (a fee server's paid check): its "close" has fired
    // already and will not again, so waiting for it would hang the handler, and close() with it.
    if (req.destroyed && !req.complete) return resolve({ kind: "aborted" });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (r: BodyRead) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      req.off("end", onEnd);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      ex.bytesIn = size;
      if (size > limit) {
        chunks.length = 0;
        settle({ kind: "too-large" });
        // Keep draining without a listener: the data is dropped, the connection stays usable.
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle({ kind: "ok", body: new Uint8Array(Buffer.concat(chunks, size)) });
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", () => settle({ kind: "aborted" }));
    req.on("close", () => {
      if (!req.complete) settle({ kind: "aborted" });
    });
  });
}

function isFree(fee: AmountString): boolean {
  const a = parseAmount(fee);
  return a.value === 0 && a.fraction === 0;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

function sanitizeForLog(text: string): string {
  const clean = text.replace(/[^\x21-\x7e]/g, "?");
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** Starts a sync provider on loopback (by default) and resolves once it listens. */
export async function startSyncServer(opts: SyncServerOptions): Promise<SyncServer> {
  // Every option is checked before the store opens: a refused start leaves nothing open or written.
  if (typeof opts !== "object" || opts === null) throw invalidOption("startSyncServer needs an options object");
  if (opts.postgres !== undefined && (typeof opts.postgres !== "string" || opts.postgres === "")) {
    throw invalidOption("postgres must be a connection URL");
  }
  if (opts.postgres === undefined && (typeof opts.path !== "string" || opts.path === "")) {
    throw invalidOption("path: a data directory is required (or a postgres URL)");
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port <= 65_535)) {
    throw invalidOption(`port must be an integer from 0 to 65535, got ${describeValue(opts.port)}`);
  }
  if (opts.host !== undefined && (typeof opts.host !== "string" || opts.host === "")) throw invalidOption("host must be a non-empty string");
  if (opts.log !== undefined && typeof opts.log !== "function") throw invalidOption("log must be a function");
  const limitMb = opts.storageLimitInMegabytes ?? 16;
  if (typeof limitMb !== "number" || !Number.isFinite(limitMb) || limitMb <= 0 || limitMb > MAX_STORAGE_LIMIT_MB) {
    throw invalidOption(`storageLimitInMegabytes must be a positive number up to ${MAX_STORAGE_LIMIT_MB}, got ${describeValue(limitMb)}`);
  }
  const limitBytes = Math.floor(limitMb * MIB);
  const annualFee = amountOption("annualFee", opts.annualFee ?? "KUDOS:0");
  const currency = parseAmount(annualFee).currency;
  const liabilityLimit = amountOption("liabilityLimit", opts.liabilityLimit ?? `${currency}:0`);
  const feeRequired = !isFree(annualFee);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 120_000;
  const headersTimeoutAsked = opts.headersTimeoutMs ?? 20_000;
  for (const [name, v] of [["requestTimeoutMs", requestTimeoutMs], ["headersTimeoutMs", headersTimeoutAsked]] as const) {
    // Node's server refuses a timeout that is not an integer.
    if (!Number.isInteger(v) || v <= 0 || v > MAX_TIMER_MS) throw invalidOption(`${name} must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${describeValue(v)}`);
  }
  const headersTimeoutMs = Math.min(headersTimeoutAsked, requestTimeoutMs);
  const log = opts.log;
  const host = opts.host ?? "127.0.0.1";

  // pg is loaded only for a PostgreSQL store: a wallet embedding the engine never pays for it.
  const store: SyncStore =
    opts.postgres !== undefined
      ? await (await import("./sync-store-postgres.ts")).openPostgresSyncStore(opts.postgres, { log })
      : openLmdbSyncStore(opts.path!); // checked above: a non-empty string when postgres is absent

  const config = {
    name: "sync",
    version: "2:0:0",
    storage_limit_in_megabytes: limitMb,
    annual_fee: annualFee,
    liability_limit: liabilityLimit,
  };
  const configJson = JSON.stringify(config);

  let payHost = host;

  function internalError(res: ServerResponse, ex: Exchange, what: string, e: unknown, code: number): void {
    const message = e instanceof WalletError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    log?.(`sync server: ${what} failed: ${message}`);
    sendError(res, ex, 500, code, `the server could not ${what}; try again later`);
  }

  async function handleGet(res: ServerResponse, ex: Exchange, req: IncomingMessage, account: string): Promise<void> {
    const ifNoneMatchRaw = headerValue(req, "if-none-match");
    const ifNoneMatch = ifNoneMatchRaw === undefined ? undefined : parseHashHeader(ifNoneMatchRaw);
    if (ifNoneMatchRaw !== undefined && ifNoneMatch === undefined) {
      return sendError(res, ex, 400, SyncErrorCode.SYNC_BAD_IF_NONE_MATCH, "If-None-Match is not a Crockford SHA-512 hash");
    }
    let state;
    try {
      state = await store.get(account);
    } catch (e) {
      return internalError(res, ex, "read the account", e, SyncErrorCode.GENERIC_DB_FETCH_FAILED);
    }
    switch (state.kind) {
      case "unknown":
        return sendError(res, ex, 404, SyncErrorCode.SYNC_ACCOUNT_UNKNOWN, "no such account");
      case "empty":
        return send(res, ex, 204, {});
      case "backup": {
        const headers = backupHeaders(state.backup);
        if (ifNoneMatch !== undefined && ifNoneMatch === state.backup.hash) {
          return send(res, ex, 304, { ETag: headers.ETag });
        }
        return send(res, ex, 200, headers, state.backup.blob);
      }
      default: {
        const never: never = state;
        throw new Error(`unhandled account state ${JSON.stringify(never)}`);
      }
    }
  }

  async function handlePost(
    res: ServerResponse,
    ex: Exchange,
    req: IncomingMessage,
    account: string,
    expectsContinue: boolean,
  ): Promise<void> {
    // Answering before the body was asked for: the client may not send it, so the connection cannot be reused.
    let bodyRequested = !expectsContinue;
    const early = (): Record<string, string> => (bodyRequested ? {} : { Connection: "close" });
    let body: Uint8Array | undefined;
    const fetchBody = async (): Promise<"ok" | "answered"> => {
      if (!bodyRequested) {
        bodyRequested = true;
        res.writeContinue();
      }
      const r = await readBody(req, limitBytes, ex);
      switch (r.kind) {
        case "ok":
          body = r.body;
          return "ok";
        case "too-large":
          sendError(res, ex, 413, SyncErrorCode.SYNC_EXCESSIVE_CONTENT_LENGTH, `the backup exceeds the storage limit of ${limitMb} MB`);
          return "answered";
        case "aborted":
          // The client is gone: nobody to answer, nothing stored.
          res.destroy();
          return "answered";
        default: {
          const never: never = r;
          throw new Error(`unhandled body read ${JSON.stringify(never)}`);
        }
      }
    };

    // 1. Size. By the declared length before any byte is read; without one
    //    (chunked) by reading, bounded, so the limit still comes first.
    const cl = headerValue(req, "content-length");
    if (cl !== undefined) {
      const n = /^\d{1,16}$/.test(cl) ? Number(cl) : NaN;
      if (!Number.isSafeInteger(n)) {
        return sendError(res, ex, 400, SyncErrorCode.SYNC_MALFORMED_CONTENT_LENGTH, "Content-Length is not a number", early());
      }
      if (n > limitBytes) {
        return sendError(
          res,
          ex,
          413,
          SyncErrorCode.SYNC_EXCESSIVE_CONTENT_LENGTH,
          `the backup (${n} bytes) exceeds the storage limit of ${limitMb} MB`,
          early(),
        );
      }
    } else if ((await fetchBody()) === "answered") {
      return;
    }

    // 2. Header syntax. Hashes quoted or not: GNU Taler's 2021–2022 wallets sent them bare.
    const ifNoneMatchRaw = headerValue(req, "if-none-match");
    const newHash = parseHashHeader(ifNoneMatchRaw);
    if (newHash === undefined) {
      const hint = ifNoneMatchRaw === undefined ? "If-None-Match (the hash of the upload) is required" : "If-None-Match is not a Crockford SHA-512 hash";
      return sendError(res, ex, 400, SyncErrorCode.SYNC_BAD_IF_NONE_MATCH, hint, early());
    }
    const ifMatchRaw = headerValue(req, "if-match");
    const oldHashParsed = ifMatchRaw === undefined ? undefined : parseHashHeader(ifMatchRaw);
    if (ifMatchRaw !== undefined && oldHashParsed === undefined) {
      return sendError(res, ex, 400, SyncErrorCode.SYNC_BAD_IF_MATCH, "If-Match is not a Crockford SHA-512 hash", early());
    }
    const sigRaw = headerValue(req, "sync-signature");
    const signature = parseSignatureHeader(sigRaw);
    if (signature === undefined) {
      const hint = sigRaw === undefined ? "Sync-Signature is required" : "Sync-Signature is not a Crockford Ed25519 signature";
      return sendError(res, ex, 400, SyncErrorCode.SYNC_BAD_SYNC_SIGNATURE, hint, early());
    }
    // GNU's sync reads an all-zero If-Match as "first upload", as the signed struct does.
    const expectedPrev = oldHashParsed === ZERO_HASH ? undefined : oldHashParsed;

    // 3. Signature: by the account key over (old hash or zeros, new hash).
    if (!verifySyncUpload(decodeCrock(account), expectedPrev, newHash, decodeCrock(signature))) {
      return sendError(res, ex, 403, SyncErrorCode.SYNC_INVALID_SIGNATURE, "Sync-Signature is not the account's signature of this upload", early());
    }

    // 4. Payment. After the signature: only the key's owner learns an account
    //    must pay (nobody can make us issue payment requests for accounts they do
    //    not hold). Before the compare-and-swap: an unpaid account neither stores
    //    nor gets a stored blob back in a 409. GNU's sync sits it there too.
    if (feeRequired) {
      let paid: boolean;
      try {
        paid = await store.isPaid(account);
      } catch (e) {
        return internalError(res, ex, "read the account", e, SyncErrorCode.GENERIC_DB_FETCH_FAILED);
      }
      if (!paid) {
        const talerUri = `taler://pay/${payHost}/sync-${account.slice(0, 16).toLowerCase()}/`;
        return sendError(
          res,
          ex,
          402,
          SyncErrorCode.SYNC_PAYMENT_REQUIRED,
          `this provider charges ${annualFee} a year; pay with the Taler URI in the Taler header`,
          { Taler: talerUri, ...early() },
        );
      }
    }

    if (body === undefined && (await fetchBody()) === "answered") return;
    const blob = body as Uint8Array;
    const bodyHash = encodeCrock(sha512(blob));

    // 5–7. Compare-and-swap (409), same content (304), body matches its hash (400).
    if (bodyHash !== newHash) {
      // Nothing will be written, so a plain read decides whether 409 or 304 come first.
      let current: StoredBackup | undefined;
      try {
        const state = await store.get(account);
        current = state.kind === "backup" ? state.backup : undefined;
      } catch (e) {
        return internalError(res, ex, "read the account", e, SyncErrorCode.GENERIC_DB_FETCH_FAILED);
      }
      const decision = decideCas(current?.hash, expectedPrev, newHash);
      if (decision === "conflict") return conflict(res, ex, current);
      if (decision === "unchanged") return send(res, ex, 304, {});
      return sendError(res, ex, 400, SyncErrorCode.SYNC_INVALID_UPLOAD, "the body's SHA-512 is not the If-None-Match hash");
    }
    let result;
    try {
      result = await store.compareAndSwap(account, expectedPrev, { blob, hash: newHash, signature });
    } catch (e) {
      return internalError(res, ex, "store the backup", e, SyncErrorCode.GENERIC_DB_STORE_FAILED);
    }
    switch (result.kind) {
      case "stored":
        return send(res, ex, 204, {});
      case "unchanged":
        return send(res, ex, 304, {});
      case "conflict":
        return conflict(res, ex, result.current);
      default: {
        const never: never = result;
        throw new Error(`unhandled store result ${JSON.stringify(never)}`);
      }
    }
  }

  function conflict(res: ServerResponse, ex: Exchange, current: StoredBackup | undefined): void {
    if (current === undefined) {
      return sendError(res, ex, 409, SyncErrorCode.SYNC_PREVIOUS_BACKUP_UNKNOWN, "If-Match names a backup, but this account has none; upload without If-Match");
    }
    return send(res, ex, 409, backupHeaders(current), current.blob);
  }

  async function route(req: IncomingMessage, res: ServerResponse, ex: Exchange, expectsContinue: boolean): Promise<void> {
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    // The raw path, not a URL parse: "//host/config" must not become a path on another host.
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const method = req.method ?? "GET";
    const allow = (methods: string) => {
      res.setHeader("Allow", methods);
      sendError(res, ex, 405, SyncErrorCode.GENERIC_METHOD_INVALID, `${method} is not allowed here; use ${methods}`);
    };

    if (path === "/config") {
      if (method === "OPTIONS") return send(res, ex, 204, PREFLIGHT_HEADERS);
      if (method !== "GET" && method !== "HEAD") return allow("GET, HEAD, OPTIONS");
      return send(res, ex, 200, { "Content-Type": "application/json" }, configJson);
    }
    const m = /^\/backups\/([^/]*)$/.exec(path);
    if (m === null) return sendError(res, ex, 404, SyncErrorCode.GENERIC_ENDPOINT_UNKNOWN, `no endpoint ${sanitizeForLog(path)}`);
    if (method === "OPTIONS") return send(res, ex, 204, PREFLIGHT_HEADERS);
    if (method !== "GET" && method !== "HEAD" && method !== "POST") return allow("GET, HEAD, POST, OPTIONS");
    const account = parseAccountPub(m[1]);
    if (account === undefined) {
      return sendError(
        res,
        ex,
        400,
        SyncErrorCode.GENERIC_PARAMETER_MALFORMED,
        "the account must be a Crockford Ed25519 public key (52 characters)",
        method === "POST" && expectsContinue ? { Connection: "close" } : {},
      );
    }
    if (method === "POST") return handlePost(res, ex, req, account, expectsContinue);
    return handleGet(res, ex, req, account);
  }

  const inFlight = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  // A socket whose request was answered while its body still streams in (and is
  // dropped): a timeout there must not put a second response on the wire.
  const answeredEarly = new WeakSet<Socket>();

  function onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const started = performance.now();
    const ex: Exchange = { bytesIn: 0, bytesOut: 0 };
    const method = sanitizeForLog(req.method ?? "?");
    const path = sanitizeForLog(req.url ?? "/");
    const socket = req.socket;
    res.once("finish", () => {
      if (req.complete) return;
      answeredEarly.add(socket);
      req.once("end", () => answeredEarly.delete(socket));
    });
    res.once("close", () => {
      const ms = (performance.now() - started).toFixed(1);
      const status = res.writableFinished ? String(res.statusCode) : "aborted";
      log?.(`${method} ${path} ${status} in=${ex.bytesIn}B out=${ex.bytesOut}B ${ms}ms`);
    });
    const work = route(req, res, ex, expectsContinue)
      .catch((e: unknown) => internalError(res, ex, "answer the request", e, SyncErrorCode.GENERIC_INTERNAL_INVARIANT_FAILURE))
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  }

  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      // Node checks the two timeouts on this interval (30 s by default): short ones need a finer one.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
      keepAliveTimeout: 5_000,
    },
    (req, res) => onRequest(req, res, false),
  );
  // With this listener Node leaves "Expect: 100-continue" to us: the body is asked
  // for only once size, headers, signature and payment have passed.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed or too slow requests never reach the handler; answer them in JSON too.
    if (!socket.writable || err.code === "ECONNRESET" || answeredEarly.has(socket)) {
      socket.destroy();
      return;
    }
    const [status, reason, code, hint] =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", SyncErrorCode.SYNC_REQUEST_TIMEOUT, "the request was not received in time"]
        : err.code === "HPE_HEADER_OVERFLOW"
          ? [431, "Request Header Fields Too Large", SyncErrorCode.GENERIC_PARAMETER_MALFORMED, "the request headers are too large"]
          : err.code === "HPE_INVALID_CONTENT_LENGTH" || err.code === "HPE_UNEXPECTED_CONTENT_LENGTH"
            ? [400, "Bad Request", SyncErrorCode.SYNC_MALFORMED_CONTENT_LENGTH, "Content-Length is malformed"]
            : [400, "Bad Request", SyncErrorCode.GENERIC_PARAMETER_MALFORMED, "the request is not well-formed HTTP"];
    const body = JSON.stringify({ code, hint });
    const head = [
      `HTTP/1.1 ${status} ${reason}`,
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(CORS_HEADERS).map(([k, v]) => `${k}: ${v}`),
      "Connection: close",
    ];
    log?.(`- - ${status} client error ${sanitizeForLog(err.code ?? "unknown")}`);
    socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once("error", onError);
      server.listen(opts.port ?? 0, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
  } catch (e) {
    await store.close().catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    throw new WalletError(
      "sync-server-listen-failed",
      `cannot listen on ${host}:${opts.port ?? 0}${code ? ` (${code})` : ""}: ${(e as Error).message}`,
    );
  }
  // After listening, an accept failure (EMFILE and the like) is logged, never a crash.
  server.on("error", (e: NodeJS.ErrnoException) => log?.(`sync server: listener error ${e.code ?? ""}: ${e.message}`));
  const address = server.address();
  if (address === null || typeof address === "string") throw new WalletError("sync-server-listen-failed", "no TCP address");
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  payHost = `${urlHost}:${address.port}`;
  const baseUrl = `http://${urlHost}:${address.port}/`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      // A handler may still be awaiting the store after its socket went away.
      await Promise.allSettled([...inFlight]);
      await store.close();
    })();
    return closing;
  };

  return {
    baseUrl,
    close,
    async markPaid(accountPub: string): Promise<void> {
      const account = parseAccountPub(accountPub);
      if (account === undefined) throw new WalletError("sync-account-invalid", `not an account public key: ${JSON.stringify(accountPub)}`);
      await store.markPaid(account);
    },
  };
}

// The engine: one wallet directory's store, the host's clock and HTTP, the
// operations table, and the two ways into it (typed calls and handleRequest).
import { encodeCrock } from "../codec/crockford.ts";
import { eddsaPublicFromSeed, randomBytes } from "../codec/keys.ts";
import type { LocalDraft } from "../events/catalogue.ts";
import { MAX_TIME_MS } from "../events/envelope.ts";
import { openStore, type Store } from "../events/store.ts";
import { asStoreError } from "../events/store-errors.ts";
import { asText, isErrorCode, thrownText, WalletError, type ErrorCode } from "../errors.ts";
import { DEFAULT_SCHEDULE, unsettledUpdates, type SchedulePolicy } from "../projections/exchange-updates.ts";
import type { HttpClient } from "../transport/exchange-client.ts";
import { MAX_TIMER_MS } from "../transport/deadline.ts";
import type { EngineContext } from "./context.ts";
import { NOTIFYING_TABLES, notificationsOf, type NotificationListener, type WalletNotification } from "./notifications.ts";
import type { OperationTable, ResultOf } from "./operation.ts";
import { PROJECTIONS } from "../projections/index.ts";

export interface OpenWalletOptions {
  /** LMDB directory of this wallet, created if missing. */
  path: string;
  /** fetch-compatible HTTP client; defaults to the platform fetch. */
  http?: HttpClient;
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
  /** Device id for a new wallet; on reopen it must match the stored one. */
  deviceId?: string;
  /** When used exchanges are refreshed and failed updates retried. */
  schedule?: Partial<SchedulePolicy>;
  /** Ephemeral exchanges unused this long are collected by runPendingUpdates (default 30 days). */
  ephemeralGcAfterMs?: number;
  /** Timeout of each exchange HTTP request (default 10 s). */
  httpTimeoutMs?: number;
  /**
   * A device not heard from this long (its newest event, or its newest backup merged here) is retired:
   * it stops holding back the stable frontier below which backups carry a snapshot (default 90 days).
   */
  retireDevicesAfterMs?: number;
  /**
   * Compaction (off unless set): once this many events lie below the stable frontier (beyond what is
   * already folded), an export folds them into the store's base and the backup carries them as a
   * snapshot instead of one by one; 0 compacts at every export. What it costs: getTransactions lists
   * only what is above the base, and on coin-heavy histories a snapshot (every coin with its spends
   * and their dots) is about as large as the events it folds; it pays off where events churn
   * (exchange updates, ToS accepted and forgotten, deleted exchanges).
   */
  compactBackupsAbove?: number;
}

/** What handleRequest answers: never a rejection, always one of these. */
export type ResponseEnvelope =
  | { type: "response"; operation: string; id: string; result: unknown }
  | { type: "error"; operation: string; id: string; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };

export interface Engine<T extends OperationTable> {
  readonly deviceId: string;
  readonly walletRootPub: string;
  call<K extends keyof T & string>(name: K, payload: unknown): Promise<ResultOf<T, K>>;
  handleRequest(operation: string, id: string, payload: unknown): Promise<ResponseEnvelope>;
  addNotificationListener(fn: NotificationListener): () => void;
  close(): Promise<void>;
}


function checkedClock(host: () => number): () => number {
  return () => {
    let t: unknown;
    try {
      t = host();
    } catch (e) {
      const message = (e as { message?: unknown } | undefined)?.message;
      throw new WalletError("clock-invalid", `the host clock threw: ${typeof message === "string" ? message : asText(e)}`);
    }
    const ms = typeof t === "number" ? Math.floor(t) : NaN;
    if (!(ms >= 0 && ms <= MAX_TIME_MS)) throw new WalletError("clock-invalid", `the host clock gave ${asText(t)}, not a time in ms between 1970 and 9999`);
    return ms;
  };
}

function optionalFn<T>(v: T | undefined, name: string): T | undefined {
  if (v !== undefined && typeof v !== "function") throw new WalletError("request-invalid", `openWallet: ${name} must be a function`);
  return v;
}

function optionalCount(v: unknown, name: string, max = Number.MAX_SAFE_INTEGER, min = 0): number | undefined {
  if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max)) {
    throw new WalletError("request-invalid", `openWallet: ${name} must be an integer from ${min} to ${max}`);
  }
  return v as number | undefined;
}

/** The update schedule: the defaults, with what the host sets (only known keys, each a count of ms). */
function scheduleOption(v: unknown): SchedulePolicy {
  if (v === undefined) return { ...DEFAULT_SCHEDULE };
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new WalletError("request-invalid", "openWallet: schedule must be an object");
  const out: SchedulePolicy = { ...DEFAULT_SCHEDULE };
  for (const [k, x] of Object.entries(v)) {
    if (k !== "refreshIntervalMs" && k !== "retryBaseMs" && k !== "maxRetryDelayMs") {
      throw new WalletError("request-invalid", `openWallet: schedule.${k} is not a known field (refreshIntervalMs, retryBaseMs, maxRetryDelayMs)`);
    }
    out[k] = optionalCount(x, `schedule.${k}`) ?? DEFAULT_SCHEDULE[k];
  }
  return out;
}

/**
 * Turns anything thrown below the engine into a WalletError; raw library errors never reach a caller.
 * What the store's reads throw raw (lmdb on a damaged page: MDB_PAGE_NOTFOUND, MDB_CORRUPTED …, the
 * file system: ENOSPC, EROFS …) is classified like its writes; anything else is a bug of the engine.
 */
export function asWalletError(e: unknown): WalletError {
  if (e instanceof WalletError) return e;
  const stored = asStoreError(e, "the wallet store failed");
  // An lmdb condition without a class of its own (MDB_READERS_FULL, MDB_TXN_FULL …) is still the store's.
  if (stored.code !== "store-failed" || /\bMDB_[A-Z_]+/.test(stored.message)) return stored;
  const message = typeof (e as { message?: unknown } | undefined)?.message === "string" ? (e as Error).message : asText(e);
  const name = (e as { name?: unknown } | undefined)?.name;
  return new WalletError("internal-error", `unexpected ${typeof name === "string" ? name : "error"}: ${message}`);
}


/** Details as plain JSON (a host may send them over IPC); dropped when they have no JSON form. */
function jsonDetails(d: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (d === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Opens the store of `options.path` and answers the operations of `table`. */
export async function openEngine<T extends OperationTable>(options: OpenWalletOptions, table: T): Promise<Engine<T>> {
  if (typeof options !== "object" || options === null) throw new WalletError("request-invalid", "openWallet needs an options object with a path");
  if (typeof options.path !== "string" || options.path === "") throw new WalletError("request-invalid", "openWallet needs a path");
  const hostNow = optionalFn(options.now, "now") ?? Date.now;
  const http: HttpClient = optionalFn(options.http, "http") ?? ((url, init) => fetch(url, init));
  const now = checkedClock(hostNow);
  const config = {
    schedule: scheduleOption(options.schedule),
    ephemeralGcAfterMs: optionalCount(options.ephemeralGcAfterMs, "ephemeralGcAfterMs") ?? 30 * 24 * 3600 * 1000,
    httpTimeoutMs: optionalCount(options.httpTimeoutMs, "httpTimeoutMs", MAX_TIMER_MS, 1) ?? 10_000,
    retireDevicesAfterMs: optionalCount(options.retireDevicesAfterMs, "retireDevicesAfterMs") ?? 90 * 24 * 3600 * 1000,
    compactBackupsAbove: optionalCount(options.compactBackupsAbove, "compactBackupsAbove") ?? Number.POSITIVE_INFINITY,
  };

  const listeners = new Set<NotificationListener>();
  const deliver = (ns: WalletNotification[]) => {
    for (const n of ns) {
      for (const l of [...listeners]) {
        try {
          l(n);
        } catch {
          // A listener is the host's code: its failure must not undo or break what already committed.
        }
      }
    }
  };

  let store: Store;
  try {
    store = await openStore({
      path: options.path,
      deviceId: options.deviceId,
      projections: PROJECTIONS,
      trackChanges: NOTIFYING_TABLES,
      onCommit: (changes) => {
        if (changes.length === 0 || listeners.size === 0) return;
        try {
          deliver(notificationsOf(changes, store.records, now()));
        } catch {
          // Deriving notifications reads committed state; it cannot take the commit back.
        }
      },
    });
  } catch (e) {
    throw asWalletError(e);
  }

  // An update a crash cut short stays "in flight" in the records until settled; no update runs yet in this process.
  const unsettled = unsettledUpdates(store.records);
  if (unsettled.length > 0) {
    try {
      const at = now();
      store.write((tx) => {
        for (const { url, attempts } of unsettled) {
          for (let i = 0; i < attempts; i++) tx.appendLocal({ type: "exchange-update-settled", data: { url, ok: false, interrupted: true } }, at);
        }
      });
    } catch {
      // A wallet that cannot write (a full disk) still opens; the next update of these exchanges settles them.
    }
  }

  const abort = new AbortController();
  let closing = false;
  let inflight = 0;
  let idle: (() => void) | undefined;
  let closed: Promise<void> | undefined;
  const closedError = () => new WalletError("wallet-closed", "the wallet is closed");

  const ctx: EngineContext = {
    store,
    records: store.records,
    http,
    config,
    signal: abort.signal,
    now,
    newId: () => encodeCrock(randomBytes(16)),
    write: (fn) => store.write(fn),
    transact(decide, at) {
      return store.write((tx) => {
        const { events, result } = decide(tx.records);
        if (events.length > 0) tx.appendOwn(events, at ?? now());
        return result;
      });
    },
    appendLocal(draft: LocalDraft, at: number) {
      store.write((tx) => tx.appendLocal(draft, at));
    },
    ensureOpen() {
      if (closing) throw closedError();
    },
    emit: (n) => deliver([n]),
  };

  const isOperation = (name: string): name is keyof T & string => Object.prototype.hasOwnProperty.call(table, name);

  async function call<K extends keyof T & string>(name: K, payload: unknown): Promise<ResultOf<T, K>> {
    if (closing) throw closedError();
    inflight++;
    try {
      const op = table[name];
      let req: unknown;
      try {
        req = op.request(payload, name);
      } catch (e) {
        // The parsers read the host's object: a getter or Proxy trap that throws is a bad request.
        throw e instanceof WalletError ? e : new WalletError("request-invalid", `${name}: the request could not be read: ${thrownText(e)}`);
      }
      return (await op.handler(ctx, req)) as ResultOf<T, K>;
    } catch (e) {
      throw asWalletError(e);
    } finally {
      inflight--;
      if (inflight === 0) idle?.();
    }
  }

  return {
    deviceId: store.deviceId,
    // Read each time: a recovery with strategy "theirs" replaces the root key.
    get walletRootPub() {
      return encodeCrock(eddsaPublicFromSeed(store.rootSeed));
    },
    call,

    async handleRequest(operation, id, payload) {
      const op = asText(operation);
      const rid = asText(id);
      try {
        if (!isOperation(op)) {
          throw new WalletError("operation-unknown", `no operation ${JSON.stringify(op)}; see the operations table`, { operation: op });
        }
        const result: unknown = await call(op, payload);
        const toWire = table[op].toWire;
        const wire = toWire ? toWire(result) : result;
        return { type: "response", operation: op, id: rid, result: wire === undefined ? {} : wire };
      } catch (e) {
        const w = asWalletError(e);
        const error: { code: ErrorCode; message: string; details?: Record<string, unknown> } = {
          code: isErrorCode(w.code) ? w.code : "internal-error",
          message: w.message,
        };
        const details = jsonDetails(w.details);
        if (details !== undefined) error.details = details;
        return { type: "error", operation: op, id: rid, error };
      }
    },

    addNotificationListener(fn) {
      if (typeof fn !== "function") throw new WalletError("request-invalid", "addNotificationListener needs a function");
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },

    close() {
      closed ??= (async () => {
        closing = true;
        // Network waits end now; their handlers then see the wallet closing and stop before writing.
        abort.abort();
        if (inflight > 0) await new Promise<void>((resolve) => (idle = resolve));
        listeners.clear();
        await store.close();
      })();
      return closed;
    },
  };
}

// The engine facade: requests in, events out. Each request reads the
// projections, asks a decider for events, and appends them in one write
// transaction. HTTP happens here, at the edge, never inside a transaction.
import { WalletError } from "./errors.ts";
import type { EventData, SharedDraft } from "./events/catalogue.ts";
import type { WalletEvent } from "./events/envelope.ts";
import { openStore, type Store, type WriteTxn } from "./events/store.ts";
import { exportFrom, importInto, type ImportResult } from "./merge/log-merge.ts";
import { normalizeClock, type VectorClock } from "./events/clock.ts";
import {
  coinsProjection,
  decideAbortWithdrawal,
  decideRecordRefresh,
  decideRecordSpend,
  decideRecordWithdrawal,
  getCoin,
  getResources,
  listBalances,
  listConflictRecords,
  coinRemaining,
  type RecordRefreshRequest,
  type RecordSpendRequest,
  type RecordWithdrawalRequest,
} from "./projections/coins.ts";
import {
  DEFAULT_SCHEDULE,
  exchangeUpdatesProjection,
  getUpdateState,
  nextUpdateAt,
  type SchedulePolicy,
} from "./projections/exchange-updates.ts";
import {
  acceptedTos,
  allExchangeRecords,
  currentKeys,
  currentTos,
  decideAddExchange,
  decideDeleteExchange,
  decideSetSuspended,
  decideSetTosAccepted,
  decideSetTosForgotten,
  decideTosOffered,
  decideUpdateOutcome,
  entryStatus,
  exchangeView,
  exchangesProjection,
  getExchangeRecord,
  isSuspended,
  lastActivity,
  requireExchange,
  tosStatus,
  type ExchangeEntryStatus,
  type ExchangeListItem,
  type ExchangeRecord,
  type ExchangeTosStatus,
} from "./projections/exchanges.ts";
import { formatAmount, type AmountString } from "./codec/amounts.ts";
import { encodeCrock } from "./codec/crockford.ts";
import {
  ENGINE_EXCHANGE_PROTOCOL_VERSION,
  fetchKeys,
  fetchTerms,
  isProtocolCompatible,
  type HttpClient,
} from "./transport/exchange-client.ts";
import { eddsaPublicFromSeed, randomBytes } from "./codec/keys.ts";
import { canonicalizeBaseUrl } from "./codec/url.ts";

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
}

export interface ExchangeTos {
  content: string;
  contentType: string;
  contentLanguage?: string;
  tosAvailableLanguages: string[];
  currentEtag: string;
  acceptedEtag?: string;
  tosStatus: ExchangeTosStatus;
}

export interface Balance {
  currency: string;
  available: AmountString;
  /** Instructed but not yet withdrawn, over withdrawals that are not aborted. */
  pendingIncoming: AmountString;
}

export interface Conflict {
  kind: "double-spend";
  coinPub: string;
  spendIds: string[];
}

export interface CoinInfo {
  coinPub: string;
  exchangeBaseUrl: string;
  denomPubHash: string;
  value: AmountString;
  remaining: AmountString;
  origin: { kind: "withdrawal" | "refresh"; id: string };
  spendIds: string[];
}

export interface PendingUpdatesReport {
  /** Exchanges contacted, with their state afterwards. */
  updated: ExchangeListItem[];
  /** Ephemeral exchanges collected because they were unused for too long. */
  collected: string[];
}

/** The wallet engine of one device. Every method may reject with a WalletError. */
export interface Wallet {
  readonly deviceId: string;
  /** Hex-free Crockford public key of this wallet's root (Ed25519). */
  readonly walletRootPub: string;

  addExchange(req: { exchangeBaseUrl: string; preset?: boolean }): Promise<void>;
  updateExchange(req: { exchangeBaseUrl: string; force?: boolean }): Promise<ExchangeListItem>;
  listExchanges(req?: { filterByExchangeEntryStatus?: ExchangeEntryStatus }): Promise<{ exchanges: ExchangeListItem[] }>;
  getExchangeEntryByUrl(req: { exchangeBaseUrl: string }): Promise<ExchangeListItem>;
  getExchangeResources(req: { exchangeBaseUrl: string }): Promise<{ hasResources: boolean; coins: number; withdrawalGroups: number }>;
  deleteExchange(req: { exchangeBaseUrl: string; purge?: boolean }): Promise<void>;
  getExchangeTos(req: { exchangeBaseUrl: string; acceptLanguage?: string | string[]; acceptFormat?: string[] }): Promise<ExchangeTos>;
  setExchangeTosAccepted(req: { exchangeBaseUrl: string; etag: string }): Promise<void>;
  setExchangeTosForgotten(req: { exchangeBaseUrl: string }): Promise<void>;
  setExchangeSuspended(req: { exchangeBaseUrl: string; suspended: boolean }): Promise<void>;
  /** Contacts used exchanges that are due, retries failed ones with backoff, collects stale ephemeral ones. */
  runPendingUpdates(req?: { now?: number }): Promise<PendingUpdatesReport>;

  recordWithdrawal(req: RecordWithdrawalRequest): Promise<{ withdrawalGroupId: string }>;
  recordSpend(req: RecordSpendRequest): Promise<{ spendId: string }>;
  recordRefresh(req: RecordRefreshRequest): Promise<{ refreshGroupId: string }>;
  abortWithdrawal(req: { withdrawalGroupId: string }): Promise<void>;
  getBalances(): Promise<{ balances: Balance[] }>;
  listConflicts(): Promise<{ conflicts: Conflict[] }>;
  getCoin(req: { coinPub: string }): Promise<CoinInfo>;

  getVectorClock(): Promise<VectorClock>;
  exportEvents(req?: { since?: VectorClock }): Promise<WalletEvent[]>;
  importEvents(events: WalletEvent[]): Promise<ImportResult>;

  /** Drops the materialized projections and folds them again from the log. */
  rebuild(): Promise<void>;
  /** Every projection record (for diagnostics and rebuild checks). */
  dumpProjections(): Promise<{ key: (string | number)[]; value: unknown }[]>;
  close(): Promise<void>;
}

const PROJECTIONS = [exchangesProjection, coinsProjection, exchangeUpdatesProjection];

function newId(): string {
  return encodeCrock(randomBytes(16));
}

function urlOf(req: unknown, field = "exchangeBaseUrl"): string {
  if (typeof req !== "object" || req === null) throw new WalletError("request-invalid", "the request must be an object");
  const v = (req as Record<string, unknown>)[field];
  if (typeof v !== "string") throw new WalletError("url-invalid", `${field} must be a string`);
  return canonicalizeBaseUrl(v);
}

function asList(x: string | string[] | undefined): string[] | undefined {
  return x === undefined ? undefined : Array.isArray(x) ? x : [x];
}

/** Opens (creating if needed) the wallet stored in `options.path`. */
export async function openWallet(options: OpenWalletOptions): Promise<Wallet> {
  if (typeof options?.path !== "string" || options.path === "") throw new WalletError("request-invalid", "openWallet needs a path");
  const store: Store = openStore({ path: options.path, deviceId: options.deviceId, projections: PROJECTIONS });
  const http: HttpClient = options.http ?? ((url, init) => fetch(url, init));
  const now = () => Math.floor((options.now ?? Date.now)());
  const schedule: SchedulePolicy = { ...DEFAULT_SCHEDULE, ...options.schedule };
  const gcAfter = options.ephemeralGcAfterMs ?? 30 * 24 * 3600 * 1000;
  const timeoutMs = options.httpTimeoutMs ?? 10_000;
  const records = store.records;
  let closed = false;

  const live = () => {
    if (closed) throw new WalletError("wallet-closed", "the wallet is closed");
  };
  /** Runs a decider inside a write transaction and appends what it returns. */
  const transact = <T>(fn: (tx: WriteTxn) => { events: SharedDraft[]; result: T }): T =>
    store.write((tx) => {
      const { events, result } = fn(tx);
      if (events.length > 0) tx.appendOwn(events, now());
      return result;
    });
  const append = (fn: () => SharedDraft[]) => transact(() => ({ events: fn(), result: undefined }));

  const view = (r: ExchangeRecord): ExchangeListItem | undefined =>
    exchangeView(r, now(), getUpdateState(records, r.url));

  // requireExchange guarantees an entry status, so the view exists.
  const entry = (url: string): ExchangeListItem => view(requireExchange(records, url))!;

  /** `at` is the clock of this run: the scheduler passes its own `now` so attempt times agree with it. */
  async function update(url: string, force: boolean, at: () => number = now): Promise<ExchangeListItem> {
    const r = requireExchange(records, url);
    // DD 48: a suspended exchange is not contacted any more.
    if (isSuspended(r)) throw new WalletError("exchange-suspended", `exchange ${url} is suspended`, { url });
    const st = getUpdateState(records, url);
    const known = currentKeys(r);
    store.write((tx) => tx.appendLocal({ type: "exchange-update-attempted", data: { url } }, at()));
    try {
      const keys = await fetchKeys(http, url, { timeoutMs, etag: !force && known ? st.keysEtag : undefined });
      const terms = keys.ok
        ? await fetchTerms(http, url, { timeoutMs, etag: force ? undefined : currentTos(r)?.etag })
        : undefined;
      const keysEtag = keys.ok && !keys.notModified ? keys.etag : undefined;
      store.write((tx) => {
        // Re-read: other requests may have run while we awaited the network.
        const fresh = getExchangeRecord(tx.records, url);
        if (!fresh || !entryStatus(fresh)) return;
        const events = decideUpdateOutcome(fresh, {
          keys: keys.ok ? keys : { ok: false, code: keys.code, message: keys.message },
          terms: terms?.ok ? terms : undefined,
          compatible: (v) => isProtocolCompatible(ENGINE_EXCHANGE_PROTOCOL_VERSION, v),
        });
        if (events.length > 0) tx.appendOwn(events, at());
        const after = getExchangeRecord(tx.records, url)!;
        const ok = keys.ok && view(after)?.exchangeUpdateStatus !== "unavailable-update";
        const data: EventData<"exchange-update-settled"> = { url, ok };
        if (terms && !terms.ok) data.termsError = { code: terms.code, message: terms.message };
        // A rejected /keys (new master key, incompatible version) must not become the
        // If-None-Match of the next attempt: its 304 would re-adopt the old keys as "ready".
        const keysRejected = events.some((e) => e.type === "exchange-update-failed");
        if (keysEtag !== undefined && !keysRejected) data.keysEtag = keysEtag;
        tx.appendLocal({ type: "exchange-update-settled", data }, at());
      });
    } finally {
      // Whatever happened above, the attempt must not stay "in flight".
      if (getUpdateState(records, url).inFlight) {
        store.write((tx) => tx.appendLocal({ type: "exchange-update-settled", data: { url, ok: false } }, at()));
      }
    }
    const after = getExchangeRecord(records, url);
    const item = after && view(after);
    if (!item) throw new WalletError("exchange-unknown", `exchange ${url} was deleted during its update`, { url });
    return item;
  }

  const wallet: Wallet = {
    deviceId: store.deviceId,
    walletRootPub: encodeCrock(eddsaPublicFromSeed(store.rootSeed)),

    async addExchange(req) {
      live();
      const url = urlOf(req);
      if (req.preset !== undefined && typeof req.preset !== "boolean") throw new WalletError("request-invalid", "preset must be a boolean");
      append(() => decideAddExchange(getExchangeRecord(records, url), url, req.preset === true));
    },

    async updateExchange(req) {
      live();
      return update(urlOf(req), req.force === true);
    },

    async listExchanges(req) {
      live();
      const filter = req?.filterByExchangeEntryStatus;
      if (filter !== undefined && !["preset", "ephemeral", "used"].includes(filter)) {
        throw new WalletError("request-invalid", `unknown entry status filter ${JSON.stringify(filter)}`);
      }
      const exchanges: ExchangeListItem[] = [];
      for (const r of allExchangeRecords(records)) {
        const item = view(r);
        if (item && (filter === undefined || item.exchangeEntryStatus === filter)) exchanges.push(item);
      }
      exchanges.sort((a, b) => (a.exchangeBaseUrl < b.exchangeBaseUrl ? -1 : a.exchangeBaseUrl > b.exchangeBaseUrl ? 1 : 0));
      return { exchanges };
    },

    async getExchangeEntryByUrl(req) {
      live();
      return entry(urlOf(req));
    },

    async getExchangeResources(req) {
      live();
      const url = urlOf(req);
      requireExchange(records, url);
      return getResources(records, url);
    },

    async deleteExchange(req) {
      live();
      const url = urlOf(req);
      if (req.purge !== undefined && typeof req.purge !== "boolean") throw new WalletError("request-invalid", "purge must be a boolean");
      append(() => decideDeleteExchange(requireExchange(records, url), getResources(records, url), req.purge === true));
    },

    async getExchangeTos(req) {
      live();
      const url = urlOf(req);
      const r = requireExchange(records, url);
      if (isSuspended(r)) throw new WalletError("exchange-suspended", `exchange ${url} is suspended`, { url });
      const res = await fetchTerms(http, url, {
        timeoutMs,
        acceptLanguage: asList(req.acceptLanguage),
        acceptFormat: req.acceptFormat,
      });
      if (!res.ok) throw new WalletError(res.code, res.message, { url, httpStatus: res.httpStatus });
      append(() => decideTosOffered(requireExchange(records, url), res));
      const after = requireExchange(records, url);
      const out: ExchangeTos = {
        content: res.content,
        contentType: res.contentType,
        tosAvailableLanguages: res.availableLanguages,
        currentEtag: res.etag,
        tosStatus: tosStatus(after),
      };
      if (res.contentLanguage !== undefined) out.contentLanguage = res.contentLanguage;
      const acc = acceptedTos(after);
      if (acc !== undefined) out.acceptedEtag = acc;
      return out;
    },

    async setExchangeTosAccepted(req) {
      live();
      const url = urlOf(req);
      append(() => decideSetTosAccepted(requireExchange(records, url), req.etag));
    },

    async setExchangeTosForgotten(req) {
      live();
      const url = urlOf(req);
      append(() => decideSetTosForgotten(requireExchange(records, url)));
    },

    async setExchangeSuspended(req) {
      live();
      const url = urlOf(req);
      append(() => decideSetSuspended(requireExchange(records, url), req.suspended));
    },

    async runPendingUpdates(req) {
      live();
      const at = req?.now ?? now();
      const due: string[] = [];
      const collected: string[] = [];
      for (const r of allExchangeRecords(records)) {
        const status = entryStatus(r);
        if (!status || isSuspended(r)) continue;
        if (status === "ephemeral") {
          const last = lastActivity(r) ?? 0;
          if (last + gcAfter <= at && !getResources(records, r.url).hasResources) collected.push(r.url);
          continue;
        }
        // Presets are never queried; used exchanges are refreshed and retried.
        if (status === "used" && nextUpdateAt(getUpdateState(records, r.url), schedule) <= at) due.push(r.url);
      }
      if (collected.length > 0) {
        append(() => collected.map((url) => ({ type: "exchange-deleted", data: { url, purge: false } }) as SharedDraft));
      }
      const updated: ExchangeListItem[] = [];
      for (const url of due) updated.push(await update(url, false, () => at));
      return { updated, collected };
    },

    async recordWithdrawal(req) {
      live();
      const url = urlOf(req);
      return transact(() => {
        const events = decideRecordWithdrawal(records, url, req, newId);
        return { events, result: { withdrawalGroupId: (events[0].data as { withdrawalGroupId: string }).withdrawalGroupId } };
      });
    },

    async recordSpend(req) {
      live();
      return transact(() => {
        const { events, spendId } = decideRecordSpend(records, req, newId);
        return { events, result: { spendId } };
      });
    },

    async recordRefresh(req) {
      live();
      return transact(() => {
        const { events, refreshGroupId } = decideRecordRefresh(records, req, newId);
        return { events, result: { refreshGroupId } };
      });
    },

    async abortWithdrawal(req) {
      live();
      if (typeof req?.withdrawalGroupId !== "string") throw new WalletError("request-invalid", "withdrawalGroupId must be a string");
      append(() => decideAbortWithdrawal(records, req.withdrawalGroupId));
    },

    async getBalances() {
      live();
      return { balances: listBalances(records) };
    },

    async listConflicts() {
      live();
      return { conflicts: listConflictRecords(records) };
    },

    async getCoin(req) {
      live();
      const c = typeof req?.coinPub === "string" ? getCoin(records, req.coinPub) : undefined;
      if (!c || c.removed) throw new WalletError("coin-unknown", `no coin ${String(req?.coinPub)} in this wallet`);
      const remaining = coinRemaining(c);
      return {
        coinPub: c.coinPub,
        exchangeBaseUrl: c.url,
        denomPubHash: c.denomPubHash,
        value: c.value,
        remaining: remaining ? formatAmount(remaining) : `${c.currency}:0`,
        origin: c.origin,
        spendIds: Object.keys(c.spends).sort(),
      };
    },

    async getVectorClock() {
      live();
      return normalizeClock(store.clock());
    },

    async exportEvents(req) {
      live();
      return exportFrom(store, req?.since ?? {}) as WalletEvent[];
    },

    async importEvents(events) {
      live();
      return store.write((tx) => importInto(tx, events));
    },

    async rebuild() {
      live();
      store.rebuild();
    },

    async dumpProjections() {
      live();
      return store.dumpRecords();
    },

    async close() {
      if (closed) return;
      closed = true;
      await store.close();
    },
  };
  return wallet;
}


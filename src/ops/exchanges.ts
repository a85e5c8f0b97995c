// Exchange requests (DD 48): add, list, look up, ToS, suspend, delete.
import type { EngineContext } from "../engine/context.ts";
import { operation } from "../engine/operation.ts";
import { baseUrl, boolean, id, object, oneOf, optional, required, headerList, maybe } from "../engine/request.ts";
import { WalletError } from "../errors.ts";
import { getUpdateState } from "../projections/exchange-updates.ts";
import {
  acceptedTos,
  allExchangeRecords,
  decideAddExchange,
  decideDeleteExchange,
  decideSetSuspended,
  decideSetTosAccepted,
  decideSetTosForgotten,
  decideTosOffered,
  exchangeView,
  isSuspended,
  requireExchange,
  tosStatus,
  type ExchangeEntryStatus,
  type ExchangeListItem,
  type ExchangeRecord,
  type ExchangeTosStatus,
} from "../projections/exchanges.ts";
import { getResources } from "../projections/resources.ts";
import { fetchTerms } from "../transport/exchange-client.ts";

/** BCP 47's tag for an undetermined language: the answer always names one, as the contract's shape has it. */
const UNDETERMINED_LANGUAGE = "und";

export interface ExchangeTos {
  content: string;
  contentType: string;
  /** The terms' language as the exchange names it (Content-Language); "und" (BCP 47: undetermined) when it names none. */
  contentLanguage: string;
  tosAvailableLanguages: string[];
  currentEtag: string;
  acceptedEtag?: string;
  tosStatus: ExchangeTosStatus;
}

/** The DD 48 view of an exchange now, with this device's update state. */
export function listItem(ctx: EngineContext, r: ExchangeRecord): ExchangeListItem | undefined {
  return exchangeView(r, ctx.now(), getUpdateState(ctx.records, r.url));
}

/** The view of an exchange that exists (requireExchange guarantees an entry status, so the view exists). */
export function existingItem(ctx: EngineContext, url: string): ExchangeListItem {
  return listItem(ctx, requireExchange(ctx.records, url))!;
}

export function requireUnsuspended(r: ExchangeRecord): ExchangeRecord {
  // DD 48: a suspended exchange is not contacted any more.
  if (isSuspended(r)) throw new WalletError("exchange-suspended", `exchange ${r.url} is suspended`, { url: r.url });
  return r;
}

const byUrl = { exchangeBaseUrl: required(baseUrl) };

export const exchangeOperations = {
  addExchange: operation(object({ ...byUrl, preset: optional(boolean) }), (ctx, req) =>
    ctx.transact((r) => decideAddExchange(r, { url: req.exchangeBaseUrl, preset: req.preset === true })),
  ),

  listExchanges: operation(
    maybe(object({ filterByExchangeEntryStatus: optional(oneOf<ExchangeEntryStatus>("preset", "ephemeral", "used")) })),
    (ctx, req) => {
      const exchanges: ExchangeListItem[] = [];
      for (const r of allExchangeRecords(ctx.records)) {
        const item = listItem(ctx, r);
        if (item && (req.filterByExchangeEntryStatus === undefined || item.exchangeEntryStatus === req.filterByExchangeEntryStatus)) {
          exchanges.push(item);
        }
      }
      exchanges.sort((a, b) => (a.exchangeBaseUrl < b.exchangeBaseUrl ? -1 : a.exchangeBaseUrl > b.exchangeBaseUrl ? 1 : 0));
      return { exchanges };
    },
  ),

  getExchangeEntryByUrl: operation(object(byUrl), (ctx, req) => existingItem(ctx, req.exchangeBaseUrl)),

  getExchangeResources: operation(object(byUrl), (ctx, req) => {
    requireExchange(ctx.records, req.exchangeBaseUrl);
    return getResources(ctx.records, req.exchangeBaseUrl);
  }),

  deleteExchange: operation(object({ ...byUrl, purge: optional(boolean) }), (ctx, req) =>
    ctx.transact((r) => decideDeleteExchange(r, { url: req.exchangeBaseUrl, purge: req.purge === true })),
  ),

  getExchangeTos: operation(
    object({ ...byUrl, acceptLanguage: optional(headerList), acceptFormat: optional(headerList) }),
    async (ctx, req): Promise<ExchangeTos> => {
      const url = req.exchangeBaseUrl;
      requireUnsuspended(requireExchange(ctx.records, url));
      const res = await fetchTerms(ctx.http, url, {
        timeoutMs: ctx.config.httpTimeoutMs,
        acceptLanguage: req.acceptLanguage,
        acceptFormat: req.acceptFormat,
        signal: ctx.signal,
      });
      ctx.ensureOpen();
      if (!res.ok) throw new WalletError(res.code, res.message, { url, httpStatus: res.httpStatus });
      ctx.transact((r) => decideTosOffered(r, { url, terms: res }));
      const after = requireExchange(ctx.records, url);
      const out: ExchangeTos = {
        content: res.content,
        contentType: res.contentType,
        contentLanguage: res.contentLanguage ?? UNDETERMINED_LANGUAGE,
        tosAvailableLanguages: res.availableLanguages,
        currentEtag: res.etag,
        tosStatus: tosStatus(after),
      };
      const acc = acceptedTos(after);
      if (acc !== undefined) out.acceptedEtag = acc;
      return out;
    },
  ),

  setExchangeTosAccepted: operation(object({ ...byUrl, etag: required(id) }), (ctx, req) =>
    ctx.transact((r) => decideSetTosAccepted(r, { url: req.exchangeBaseUrl, etag: req.etag })),
  ),

  setExchangeTosForgotten: operation(object(byUrl), (ctx, req) => ctx.transact((r) => decideSetTosForgotten(r, { url: req.exchangeBaseUrl }))),

  setExchangeSuspended: operation(object({ ...byUrl, suspended: required(boolean) }), (ctx, req) =>
    ctx.transact((r) => decideSetSuspended(r, { url: req.exchangeBaseUrl, suspended: req.suspended })),
  ),
};

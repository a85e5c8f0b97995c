// Exchange updates over HTTP: one exchange on request, or every due one.
// The network is awaited outside any transaction; what it answered is decided
// and appended in one transaction afterwards, against the state as it is then.
import type { EventData } from "../events/catalogue.ts";
import type { EngineContext } from "../engine/context.ts";
import { operation } from "../engine/operation.ts";
import { baseUrl, boolean, maybe, object, optional, required, timeMs } from "../engine/request.ts";
import { WalletError } from "../errors.ts";
import { getUpdateState, nextUpdateAt } from "../projections/exchange-updates.ts";
import {
  allExchangeRecords,
  currentKeys,
  currentKeysFacts,
  currentTos,
  decideCollectEphemeral,
  decideUpdateOutcome,
  entryStatus,
  exchangeView,
  getExchangeRecord,
  isSuspended,
  keysRejection,
  keysStamp,
  requireExchange,
  type ExchangeListItem,
} from "../projections/exchanges.ts";
import { ENGINE_EXCHANGE_PROTOCOL_VERSION, fetchKeys, fetchTerms, isProtocolCompatible } from "../transport/exchange-client.ts";
import { listItem, requireUnsuspended } from "./exchanges.ts";

export interface PendingUpdatesReport {
  /** Exchanges contacted, with their state afterwards. */
  updated: ExchangeListItem[];
  /** Ephemeral exchanges collected because they were unused for too long. */
  collected: string[];
}

/** `at` is the clock of this run: the scheduler passes its own `now` so attempt times agree with it. */
async function update(ctx: EngineContext, url: string, force: boolean, at: () => number = ctx.now): Promise<ExchangeListItem> {
  const r = requireUnsuspended(requireExchange(ctx.records, url));
  const st = getUpdateState(ctx.records, url);
  const known = currentKeys(r);
  const { httpTimeoutMs: timeoutMs } = ctx.config;
  ctx.appendLocal({ type: "exchange-update-attempted", data: { url } }, at());
  let settled = false;
  try {
    // Revalidate only the keys this device's ETag was given for: keys another device recorded since are another version.
    const revalidate = !force && known !== undefined && st.keysEtag !== undefined && st.keysOf === keysStamp(r);
    const keys = await fetchKeys(ctx.http, url, { timeoutMs, etag: revalidate ? st.keysEtag : undefined, signal: ctx.signal });
    // Suspended (or deleted) while /keys was awaited: DD 48's suspended exchange is not contacted again.
    const still = getExchangeRecord(ctx.records, url);
    const contactable = still !== undefined && entryStatus(still) !== undefined && !isSuspended(still);
    const terms = keys.ok && contactable
      ? await fetchTerms(ctx.http, url, { timeoutMs, etag: force ? undefined : currentTos(r)?.etag, signal: ctx.signal })
      : undefined;
    if (ctx.signal.aborted) {
      // The wallet is closing: what the exchange said (or did not) is unknown, not a failure of the exchange.
      ctx.appendLocal({ type: "exchange-update-settled", data: { url, ok: false, interrupted: true } }, at());
      settled = true;
      ctx.ensureOpen();
    }
    // A fresh /keys without an ETag still replaces the old one: that one validated other keys.
    const keysEtag = keys.ok && !keys.notModified ? (keys.etag ?? "") : undefined;
    settled = ctx.write((tx) => {
      // Re-read: other requests may have run while we awaited the network.
      const fresh = getExchangeRecord(tx.records, url);
      if (!fresh || !entryStatus(fresh)) return false;
      const compatible = (v: string) => isProtocolCompatible(ENGINE_EXCHANGE_PROTOCOL_VERSION, v);
      // A rejected /keys (new master key, incompatible version) must not become the If-None-Match of
      // the next attempt: its 304 would re-adopt the old keys as "ready". Asked before the decision,
      // which records the rejection (once: a repeat appends nothing).
      const keysRejected = keys.ok && !keys.notModified && keysRejection(currentKeysFacts(tx.records, fresh), keys.keys, compatible) !== undefined;
      const { events } = decideUpdateOutcome(tx.records, {
        url,
        findings: {
          keys: keys.ok ? keys : { ok: false, code: keys.code, message: keys.message },
          terms: terms?.ok ? terms : undefined,
          compatible,
        },
      });
      if (events.length > 0) tx.appendOwn(events, at());
      const after = getExchangeRecord(tx.records, url)!;
      const view = exchangeView(after, ctx.now(), getUpdateState(tx.records, url));
      const data: EventData<"exchange-update-settled"> = { url, ok: keys.ok && view?.exchangeUpdateStatus !== "unavailable-update" };
      if (terms && !terms.ok) data.termsError = { code: terms.code, message: terms.message };
      if (keys.ok && !keysRejected) {
        // A 304 keeps the ETag but re-asserts the keys in a new event: the ETag now validates those.
        if (keysEtag !== undefined) data.keysEtag = keysEtag;
        const of = keysStamp(after);
        if (of !== undefined) data.keysOf = of;
      }
      tx.appendLocal({ type: "exchange-update-settled", data }, at());
      return true;
    });
  } finally {
    // Whatever happened above, the attempt must not stay "in flight".
    if (!settled && getUpdateState(ctx.records, url).inFlight > 0) {
      ctx.appendLocal({ type: "exchange-update-settled", data: { url, ok: false } }, at());
    }
  }
  const after = getExchangeRecord(ctx.records, url);
  const item = after && listItem(ctx, after);
  if (!item) throw new WalletError("exchange-unknown", `exchange ${url} was deleted during its update`, { url });
  return item;
}

export const exchangeUpdateOperations = {
  updateExchange: operation(object({ exchangeBaseUrl: required(baseUrl), force: optional(boolean) }), (ctx, req) =>
    update(ctx, req.exchangeBaseUrl, req.force === true),
  ),

  /** Contacts used exchanges that are due, retries failed ones with backoff, collects stale ephemeral ones. */
  runPendingUpdates: operation(maybe(object({ now: optional(timeMs) })), async (ctx, req): Promise<PendingUpdatesReport> => {
    const at = req.now ?? ctx.now();
    const { schedule, ephemeralGcAfterMs } = ctx.config;
    const due: string[] = [];
    for (const r of allExchangeRecords(ctx.records)) {
      // Presets, ephemeral and suspended entries are never contacted; used ones are refreshed and retried.
      if (entryStatus(r) === "used" && !isSuspended(r) && nextUpdateAt(getUpdateState(ctx.records, r.url), schedule) <= at) due.push(r.url);
    }
    const collected = ctx.transact((r) => decideCollectEphemeral(r, { now: at, gcAfterMs: ephemeralGcAfterMs }), at);
    const updated: ExchangeListItem[] = [];
    for (const url of due) {
      // Checked again: while an earlier one was awaited, this exchange may have been suspended, deleted or forgotten.
      const r = getExchangeRecord(ctx.records, url);
      if (!r || entryStatus(r) !== "used" || isSuspended(r)) continue;
      try {
        updated.push(await update(ctx, url, false, () => at));
      } catch (e) {
        // Deleted during its own update: there is nothing left to report for it.
        if (e instanceof WalletError && e.code === "exchange-unknown") continue;
        throw e;
      }
    }
    return { updated, collected };
  }),
};

// Notifications: what changed, said after the commit that changed it.
//
// Balance and exchange notifications are derived from the records a
// transaction changed, not from the request that caused them, so an import
// that moves a balance or an exchange's status says so exactly as a local
// request with the same effect would. A refused or rolled-back request changes
// no record, so it says nothing. (What is about a request itself, such as
// events-imported or a backup cycle's outcome, its operation emits.)
import type { RecordChange, Records } from "../events/records.ts";
import { balanceView, type BalanceTotals } from "../projections/coins.ts";
import { getUpdateState, type UpdateState } from "../projections/exchange-updates.ts";
import {
  exchangeView,
  getExchangeRecord,
  type ExchangeEntryStatus,
  type ExchangeRecord,
  type ExchangeTosStatus,
  type ExchangeUpdateStatus,
} from "../projections/exchanges.ts";
import type { AmountString } from "../codec/amounts.ts";

export interface ExchangeState {
  exchangeEntryStatus: ExchangeEntryStatus;
  exchangeUpdateStatus: ExchangeUpdateStatus;
  tosStatus: ExchangeTosStatus;
}

export interface BalanceAmounts {
  available: AmountString;
  pendingIncoming: AmountString;
}

export type WalletNotification =
  /** A currency's balance moved (available or pending incoming). */
  | { type: "balance-change"; currency: string; before: BalanceAmounts; after: BalanceAmounts }
  /** An exchange's DD 48 statuses changed; a state is absent while the entry does not exist. */
  | { type: "exchange-state-transition"; exchangeBaseUrl: string; oldExchangeState?: ExchangeState; newExchangeState?: ExchangeState }
  /** An import added events to the log. */
  | { type: "events-imported"; added: number; known: number }
  /** A backup cycle stored this device's backup at a provider (`merged`: events its newer backups added first). */
  | { type: "backup-stored"; syncProviderBaseUrl: string; merged: number }
  /** The provider already held everything this device has (after merging `merged` events from it). */
  | { type: "backup-unchanged"; syncProviderBaseUrl: string; merged: number }
  /** The provider wants its fee paid before it stores more; the cycle stopped there. */
  | { type: "backup-payment-required"; syncProviderBaseUrl: string; talerUri: string }
  /** The cycle with this provider failed; recorded on the provider, retried after a back-off. */
  | { type: "backup-failed"; syncProviderBaseUrl: string; error: { code: string; message: string } };

export type NotificationListener = (n: WalletNotification) => void;

/** First key parts of the records notifications are derived from. */
export const NOTIFYING_TABLES: ReadonlySet<string> = new Set(["bal", "ex", "upd"]);

function balanceAmounts(b: BalanceTotals | undefined, currency: string): BalanceAmounts {
  if (!b) return { available: `${currency}:0`, pendingIncoming: `${currency}:0` };
  const { available, pendingIncoming } = balanceView(b);
  return { available, pendingIncoming };
}

function stateOf(r: ExchangeRecord | undefined, upd: UpdateState, now: number): ExchangeState | undefined {
  const v = r && exchangeView(r, now, upd);
  return v && { exchangeEntryStatus: v.exchangeEntryStatus, exchangeUpdateStatus: v.exchangeUpdateStatus, tosStatus: v.tosStatus };
}

const sameState = (a: ExchangeState | undefined, b: ExchangeState | undefined) =>
  a?.exchangeEntryStatus === b?.exchangeEntryStatus && a?.exchangeUpdateStatus === b?.exchangeUpdateStatus && a?.tosStatus === b?.tosStatus;

/**
 * The notifications one committed transaction implies. `committed` reads the
 * state after the commit; `changes` says what each touched record was before.
 */
export function notificationsOf(changes: RecordChange[], committed: Records, now: number): WalletNotification[] {
  const out: WalletNotification[] = [];
  const exBefore = new Map<string, { ex?: RecordChange; upd?: RecordChange }>();
  for (const c of changes) {
    const [table, name] = c.key as [string, string];
    if (table === "bal") {
      const before = balanceAmounts(c.before as BalanceTotals | undefined, name);
      const after = balanceAmounts(c.after as BalanceTotals | undefined, name);
      if (before.available !== after.available || before.pendingIncoming !== after.pendingIncoming) {
        out.push({ type: "balance-change", currency: name, before, after });
      }
    } else if (table === "ex" || table === "upd") {
      const slot = exBefore.get(name) ?? {};
      slot[table] = c;
      exBefore.set(name, slot);
    }
  }
  for (const [url, { ex, upd }] of [...exBefore].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const exAfter = getExchangeRecord(committed, url);
    const updAfter = getUpdateState(committed, url);
    const before = stateOf(ex ? (ex.before as ExchangeRecord | undefined) : exAfter, upd ? updateStateOf(upd.before) : updAfter, now);
    const after = stateOf(exAfter, updAfter, now);
    if (sameState(before, after)) continue;
    const n: WalletNotification = { type: "exchange-state-transition", exchangeBaseUrl: url };
    if (before) n.oldExchangeState = before;
    if (after) n.newExchangeState = after;
    out.push(n);
  }
  return out;
}

function updateStateOf(v: unknown): UpdateState {
  return (v as UpdateState | undefined) ?? { inFlight: 0, failures: 0 };
}

// This device's backup providers (Taler sync services), folded from
// device-local events: which providers a device backs up to is its own
// business, so the list never travels with the log.
//
//   ["bprov", url]   BackupProviderRecord
//
// A record holds what the device knows of one provider: its terms from
// /config, and the outcome of the last backup cycle with it (the stored
// backup's hash, time and clock; the last failure and when to retry; a
// payment request). Cycle outcomes are local events folded here.
import type { AmountString } from "../codec/amounts.ts";
import type { VectorClock } from "../events/clock.ts";
import type { LocalEvent } from "../events/envelope.ts";
import type { Key, Projection, Records } from "../events/records.ts";
import { assertNever } from "./exchanges.ts";

export interface SyncTerms {
  version: string;
  storageLimitInMegabytes: number;
  annualFee: AmountString;
}

export interface BackupProviderRecord {
  url: string;
  /** Backups go only to active providers (wallet-core: activate after the user reviewed the provider's terms). */
  active: boolean;
  /** When this device added it (ms). */
  addedAt: number;
  /** What the provider's /config said when it was added. */
  terms?: SyncTerms;
  /** The hash of the backup last known to be stored there (what the next upload replaces). */
  lastBackupHash?: string;
  /** When this device last recorded a backup there (ms): stored it, or found one holding everything it has after a change or a failure. */
  lastBackupTimestamp?: number;
  /** The clock of the backup stored there: a cycle with nothing new since uploads nothing. */
  lastBackupClock?: VectorClock;
  /** The last cycle's failure, cleared by the next success. */
  lastError?: { code: string; message: string; httpStatus?: number };
  /** Failures in a row, and when the next cycle may try again (exponential back-off; after a 402, an hour). */
  failures: number;
  retryAt?: number;
  /** The provider wants its fee paid before it stores anything more. */
  paymentRequired?: { talerUri: string };
}

/** How long cycles skip a provider that asked for payment, unless forced. */
export const PAYMENT_RECHECK_MS = 3_600_000;

/** Back-off after `failures` failures in a row: 5 s doubling up to an hour. */
export function backoffMs(failures: number): number {
  return Math.min(3_600_000, 5_000 * 2 ** Math.min(failures - 1, 20));
}

const providerKey = (url: string): Key => ["bprov", url];

export const backupProvidersProjection: Projection = {
  name: "backup-providers",
  tables: { bprov: { encode: (v: BackupProviderRecord) => v, decode: (v: unknown) => v as BackupProviderRecord, local: true } },
  evolveLocal(records, e: LocalEvent) {
    switch (e.type) {
      case "backup-provider-added": {
        const key = providerKey(e.data.url);
        const before = records.get<BackupProviderRecord>(key);
        const next: BackupProviderRecord = { ...before, url: e.data.url, active: e.data.active, addedAt: before?.addedAt ?? e.time, failures: before?.failures ?? 0 };
        if (e.data.terms) next.terms = e.data.terms;
        records.put(key, next);
        return;
      }
      case "backup-provider-removed":
        records.remove(providerKey(e.data.url));
        return;
      case "backup-uploaded":
        update(records, e.data.url, (p) => {
          const { lastError: _e, retryAt: _r, paymentRequired: _p, ...rest } = p;
          return { ...rest, lastBackupHash: e.data.hash, lastBackupTimestamp: e.time, lastBackupClock: e.data.clock, failures: 0 };
        });
        return;
      case "backup-upload-failed":
        update(records, e.data.url, (p) => {
          const failures = p.failures + 1;
          const lastError: BackupProviderRecord["lastError"] = { code: e.data.code, message: e.data.message };
          if (e.data.httpStatus !== undefined) lastError.httpStatus = e.data.httpStatus;
          return { ...p, lastError, failures, retryAt: e.time + backoffMs(failures) };
        });
        return;
      case "backup-payment-required":
        // Paying takes a person: cycles leave the provider alone for a while (a forced cycle still tries).
        update(records, e.data.url, (p) => ({ ...p, paymentRequired: { talerUri: e.data.talerUri }, retryAt: e.time + PAYMENT_RECHECK_MS }));
        return;
      case "wallet-root-key-replaced":
        for (const p of listBackupProviders(records)) records.put(providerKey(p.url), { url: p.url, active: p.active, addedAt: p.addedAt, ...(p.terms && { terms: p.terms }), failures: 0 });
        return;
      case "exchange-update-attempted":
      case "exchange-update-settled":
      case "device-knowledge-learned":
        return;
      default:
        assertNever(e);
    }
  },
};

/** Outcomes for a provider removed meanwhile change nothing. */
function update(records: Records, url: string, fn: (p: BackupProviderRecord) => BackupProviderRecord): void {
  const before = records.get<BackupProviderRecord>(providerKey(url));
  if (before) records.put(providerKey(url), fn({ ...before, failures: before.failures ?? 0 }));
}

export function getBackupProvider(records: Records, url: string): BackupProviderRecord | undefined {
  return records.get<BackupProviderRecord>(providerKey(url));
}

/** Every provider of this device, by URL. */
export function listBackupProviders(records: Records): BackupProviderRecord[] {
  return [...records.entries<BackupProviderRecord>(["bprov"])].map(({ value }) => value);
}

// Device-local update bookkeeping for exchanges: whether this device has an
// update in flight, how often it failed in a row, when it last succeeded.
// Folded only from local events, so it never travels to other devices.
import type { LocalEvent } from "../events/envelope.ts";
import type { Projection, Records } from "../events/records.ts";
import { assertNever } from "./exchanges.ts";

export interface UpdateState {
  /** Attempts started and not yet settled (two overlapping updates: 2). */
  inFlight: number;
  /** Failed attempts since the last success. */
  failures: number;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  /** ETag of the last /keys answer, for If-None-Match ("" when it had none). */
  keysEtag?: string;
  /** The keys that ETag validates (keysStamp when it was recorded): sent only while they are still current. */
  keysOf?: string;
  /** Why the last attempt could not fetch /terms, if it could not. */
  termsError?: { code: string; message: string };
}

const key = (url: string) => ["upd", url];

export function getUpdateState(records: Records, url: string): UpdateState {
  return records.get<UpdateState>(key(url)) ?? { inFlight: 0, failures: 0 };
}

/**
 * Exchanges whose last update attempt never settled. In a process that has
 * just opened the wallet nothing can be in flight: these are attempts a crash
 * (or a kill) cut short, to be settled as interrupted.
 */
export function unsettledUpdates(records: Records): { url: string; attempts: number }[] {
  const out: { url: string; attempts: number }[] = [];
  for (const { key: k, value } of records.entries<UpdateState>(["upd"])) if (value.inFlight > 0) out.push({ url: k[1] as string, attempts: value.inFlight });
  return out;
}

export const exchangeUpdatesProjection: Projection = {
  name: "exchange-updates",
  tables: { upd: { encode: (v: UpdateState) => v, decode: (v: unknown) => v as UpdateState, local: true } },
  evolveLocal(records, e: LocalEvent) {
    switch (e.type) {
      case "exchange-update-attempted": {
        const s = getUpdateState(records, e.data.url);
        records.put(key(e.data.url), { ...s, inFlight: s.inFlight + 1, lastAttemptAt: e.time });
        return;
      }
      case "exchange-update-settled": {
        const s = getUpdateState(records, e.data.url);
        if (e.data.interrupted === true) {
          records.put(key(e.data.url), { ...s, inFlight: Math.max(0, s.inFlight - 1) });
          return;
        }
        const next: UpdateState = e.data.ok
          ? { ...s, inFlight: Math.max(0, s.inFlight - 1), failures: 0, lastSuccessAt: e.time }
          : { ...s, inFlight: Math.max(0, s.inFlight - 1), failures: s.failures + 1 };
        if (e.data.keysEtag !== undefined) {
          next.keysEtag = e.data.keysEtag;
          if (e.data.keysOf === undefined) delete next.keysOf;
        }
        if (e.data.keysOf !== undefined) next.keysOf = e.data.keysOf;
        delete next.termsError;
        if (e.data.termsError !== undefined) next.termsError = e.data.termsError;
        records.put(key(e.data.url), next);
        return;
      }
      case "device-knowledge-learned":
      case "backup-provider-added":
      case "backup-provider-removed":
      case "backup-uploaded":
      case "backup-upload-failed":
      case "backup-payment-required":
      case "wallet-root-key-replaced":
        return;
      default:
        assertNever(e);
    }
  },
};

export interface SchedulePolicy {
  /** How long /keys of a used exchange stays fresh. */
  refreshIntervalMs: number;
  /** First retry delay after a failure; doubles per failure up to `maxRetryDelayMs`. */
  retryBaseMs: number;
  maxRetryDelayMs: number;
}

export const DEFAULT_SCHEDULE: SchedulePolicy = {
  refreshIntervalMs: 60 * 60 * 1000,
  retryBaseMs: 10 * 1000,
  maxRetryDelayMs: 60 * 60 * 1000,
};

/** When this device should next contact the exchange, given its local update history. */
export function nextUpdateAt(s: UpdateState, policy: SchedulePolicy): number {
  if (s.failures > 0 && s.lastAttemptAt !== undefined) {
    const delay = Math.min(policy.maxRetryDelayMs, policy.retryBaseMs * 2 ** Math.min(s.failures - 1, 30));
    return s.lastAttemptAt + delay;
  }
  if (s.lastSuccessAt === undefined) return 0;
  return s.lastSuccessAt + policy.refreshIntervalMs;
}

// This device's backup providers (Taler sync services), folded from
// device-local events: which providers a device backs up to is its own
// business, so the list never travels with the log.
//
//   ["bprov", url]   BackupProviderRecord
//
// Today a record says only that the provider was added and whether it is
// active. The sync work grows it (terms from /config, the last backup's hash
// and time, an error, a payment request) with more local events folded here.
import type { LocalEvent } from "../events/envelope.ts";
import type { Key, Projection, Records } from "../events/records.ts";
import { assertNever } from "./exchanges.ts";

export interface BackupProviderRecord {
  url: string;
  /** Backups go only to active providers (wallet-core: activate after the user reviewed the provider's terms). */
  active: boolean;
  /** When this device added it (ms). */
  addedAt: number;
}

const providerKey = (url: string): Key => ["bprov", url];

export const backupProvidersProjection: Projection = {
  name: "backup-providers",
  tables: { bprov: { encode: (v: BackupProviderRecord) => v, decode: (v: unknown) => v as BackupProviderRecord, local: true } },
  evolveLocal(records, e: LocalEvent) {
    switch (e.type) {
      case "backup-provider-added": {
        const before = records.get<BackupProviderRecord>(providerKey(e.data.url));
        records.put(providerKey(e.data.url), { ...before, url: e.data.url, active: e.data.active, addedAt: before?.addedAt ?? e.time });
        return;
      }
      case "backup-provider-removed":
        records.remove(providerKey(e.data.url));
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

export function getBackupProvider(records: Records, url: string): BackupProviderRecord | undefined {
  return records.get<BackupProviderRecord>(providerKey(url));
}

/** Every provider of this device, by URL. */
export function listBackupProviders(records: Records): BackupProviderRecord[] {
  return [...records.entries<BackupProviderRecord>(["bprov"])].map(({ value }) => value);
}

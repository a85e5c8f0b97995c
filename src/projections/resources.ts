// What an exchange still holds: live coins with value left, and withdrawal
// groups still waiting for coins. A running count per exchange (a cache of
// the coin and group records, kept by the coins projection), read by the
// exchange deciders: a plain delete is refused while it is non-zero.
import type { RecordCodec, Records } from "../events/records.ts";
import { nat, tuple } from "../events/schema.ts";

export interface ExchangeResources {
  hasResources: boolean;
  /** Live coins of the exchange with value left (spent, double-spent and purged coins do not count). */
  coins: number;
  /**
   * Withdrawal groups still pending: instructed for more than was withdrawn so
   * far, and not aborted. (wallet-core counts every withdrawal group of the
   * exchange; finished groups hold nothing a delete could lose, so they do not
   * count here.)
   */
  withdrawalGroups: number;
}

interface ResourceRecord {
  coins: number;
  withdrawalGroups: number;
}

const resKey = (url: string) => ["res", url];

export function getResources(records: Records, url: string): ExchangeResources {
  const r = records.get<ResourceRecord>(resKey(url)) ?? { coins: 0, withdrawalGroups: 0 };
  return { hasResources: r.coins > 0 || r.withdrawalGroups > 0, coins: r.coins, withdrawalGroups: r.withdrawalGroups };
}

export function adjustResources(records: Records, url: string, dCoins: number, dGroups: number): void {
  if (dCoins === 0 && dGroups === 0) return;
  const key = resKey(url);
  const r = records.get<ResourceRecord>(key) ?? { coins: 0, withdrawalGroups: 0 };
  const next = { coins: r.coins + dCoins, withdrawalGroups: r.withdrawalGroups + dGroups };
  // The record exists exactly when a count is non-zero: whether a zero record was left
  // behind would otherwise depend on the path the counts took, i.e. on arrival order.
  if (next.coins === 0 && next.withdrawalGroups === 0) records.remove(key);
  else records.put(key, next);
}

/** The stored form of the counts: [coins, withdrawalGroups]. */
export const resourcesCodec: RecordCodec<ResourceRecord> = {
  shape: tuple(nat, nat),
  encode: (r) => [r.coins, r.withdrawalGroups],
  decode: (json) => {
    const [coins, withdrawalGroups] = json as [number, number];
    return { coins, withdrawalGroups };
  },
};

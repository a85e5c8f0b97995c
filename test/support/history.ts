// A seeded history of one device, written straight through the store in
// large transactions (fast): exchanges, withdrawals of 1–3 coins, and spends
// that never overspend. Material for tests that need thousands of events.
import type { SharedDraft } from "../../src/events/catalogue.ts";
import { openStore } from "../../src/events/store.ts";
import { PROJECTIONS } from "../../src/projections/index.ts";

const URLS = ["https://a.example/", "https://b.example/", "https://c.example/"];

/** A xorshift generator: deterministic from its seed, no dependency. */
export function seeded(seed: number): (n: number) => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** `n` drafts: exchanges first, then withdrawals and spends (coin pubs carry `tag`). */
export function historyDrafts(n: number, tag: string, seed = 1): SharedDraft[] {
  const random = seeded(seed);
  const drafts: SharedDraft[] = URLS.slice(0, Math.min(n, URLS.length)).map((url) => ({ type: "exchange-added", data: { url, preset: false } }));
  // Coins with value left, as [pub, whole KUDOS left]; an emptied coin is swapped out.
  const spendable: [string, number][] = [];
  let ids = 0;
  while (drafts.length < n) {
    if (spendable.length === 0 || random(3) === 0) {
      const coins = Array.from({ length: 1 + random(3) }, () => ({ coinPub: `${tag}-coin-${++ids}`, denomPubHash: "denom", value: `KUDOS:${1 + random(9)}` }));
      for (const c of coins) spendable.push([c.coinPub, Number(c.value.slice(6))]);
      drafts.push({ type: "coins-withdrawn", data: { url: URLS[random(URLS.length)], withdrawalGroupId: `${tag}-wg-${++ids}`, coins } });
    } else {
      const k = random(spendable.length);
      const c = spendable[k];
      drafts.push({ type: "coin-spent", data: { spendId: `${tag}-spend-${++ids}`, coinPub: c[0], amount: "KUDOS:1" } });
      if (--c[1] === 0) spendable[k] = spendable[spendable.length - 1], spendable.pop();
    }
  }
  return drafts;
}

/** Appends `drafts` to the wallet store in `path` (created if new), `batch` per transaction. */
export async function appendDrafts(path: string, drafts: SharedDraft[], opts: { deviceId?: string; batch?: number; time?: number } = {}): Promise<string> {
  const store = await openStore({ path, deviceId: opts.deviceId, projections: PROJECTIONS });
  try {
    const batch = opts.batch ?? 500;
    for (let i = 0; i < drafts.length; i += batch) {
      store.write((tx) => tx.appendOwn(drafts.slice(i, i + batch), opts.time ?? Date.UTC(2025, 0, 1)));
    }
    return store.deviceId;
  } finally {
    await store.close();
  }
}

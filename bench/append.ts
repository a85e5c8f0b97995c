// Our append path: openStore with the real projections, drafts stamped,
// validated, hashed into the chain, stored and folded into the projection
// records, in one write transaction per store.write.
//
// Run alone to profile one batched append of BENCH_N events:
//   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/append.ts
import { pathToFileURL } from "node:url";
import type { SharedDraft } from "../src/events/catalogue.ts";
import { openStore, type Store } from "../src/events/store.ts";
import { coinsProjection } from "../src/projections/coins.ts";
import { exchangeUpdatesProjection } from "../src/projections/exchange-updates.ts";
import { exchangesProjection } from "../src/projections/exchanges.ts";
import { benchConfig } from "./config.ts";
import { eventMix } from "./event-mix.ts";
import { perSecond, timeMs } from "./measure.ts";
import { openWorkspace } from "./workspace.ts";

export const PROJECTIONS = [exchangesProjection, coinsProjection, exchangeUpdatesProjection];
export const EVENT_TIME = 1_700_000_000_000;

export function openBenchStore(path: string, deviceId: string): Promise<Store> {
  return openStore({ path, deviceId, projections: PROJECTIONS });
}

/** Appends `drafts` in transactions of `batchSize` events each. Returns ms. */
export function appendInBatches(store: Store, drafts: SharedDraft[], batchSize: number): number {
  return timeMs(() => {
    for (let i = 0; i < drafts.length; i += batchSize) {
      const chunk = drafts.slice(i, i + batchSize);
      store.write((tx) => tx.appendOwn(chunk, EVENT_TIME));
    }
  });
}

/** A fresh store at `path` holding `drafts`; returns the append time in ms. */
export async function appendToFreshStore(path: string, deviceId: string, drafts: SharedDraft[], batchSize: number): Promise<number> {
  const store = await openBenchStore(path, deviceId);
  try {
    return appendInBatches(store, drafts, batchSize);
  } finally {
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { n } = benchConfig();
  const ws = openWorkspace();
  try {
    const drafts = eventMix("prof", n);
    const ms = await appendToFreshStore(ws.fresh("append"), "PROFDEVICE", drafts, n);
    console.log(`batched append of ${n} events: ${ms.toFixed(0)} ms, ${perSecond(n, ms).toFixed(0)} events/s`);
  } finally {
    ws.remove();
  }
}

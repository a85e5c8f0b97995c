// Where the batched append's time goes: the same history appended with no
// projections (log only) and with each projection alone, plus the event hash
// (canonical JSON + SHA-512), payload validation and the coins reducer on an
// in-memory Map (its logic without LMDB) timed on their own.
// Differences of medians, so small components can come out slightly noisy.
import { openStore, type Key, type Projection, type Records } from "../src/events/store.ts";
import type { SharedDraft } from "../src/events/catalogue.ts";
import { eventHash, validatePayload, type SharedEvent, type WalletEvent } from "../src/events/envelope.ts";
import { coinsProjection } from "../src/projections/coins.ts";
import { exchangesProjection } from "../src/projections/exchanges.ts";
import { PROJECTIONS, appendInBatches } from "./append.ts";
import { median, timeMs } from "./measure.ts";
import type { Workspace } from "./workspace.ts";

export interface AppendCosts {
  /** The full append (all projections), timed in the same loop as the parts below. */
  fullMs: number;
  logOnlyMs: number;
  coinsOnlyMs: number;
  exchangesOnlyMs: number;
  hashMs: number;
  validateMs: number;
  coinsReducerMs: number;
}

/** Records in a Map: the reducer's own cost, without msgpack, LMDB pages or commit. */
function recordsInMemory(): Records {
  const m = new Map<string, { key: Key; value: unknown }>();
  return {
    get: <T>(key: Key) => m.get(JSON.stringify(key))?.value as T | undefined,
    put: (key, value) => void m.set(JSON.stringify(key), { key, value }),
    remove: (key) => void m.delete(JSON.stringify(key)),
    *entries<T>(prefix: Key) {
      const p = JSON.stringify(prefix).slice(0, -1);
      const hits = [...m.entries()].filter(([k]) => k.startsWith(p)).sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [, { key, value }] of hits) yield { key, value: value as T };
    },
  };
}

async function appendWith(ws: Workspace, label: string, projections: Projection[], drafts: SharedDraft[]) {
  const store = await openStore({ path: ws.fresh(label), deviceId: "COSTDEVICE", projections });
  const ms = appendInBatches(store, drafts, drafts.length);
  const events = label === "log-only" ? [...store.eventsInCausalOrder()] : [];
  await store.close();
  return { ms, events };
}

export async function measureAppendCosts(ws: Workspace, drafts: SharedDraft[], reps: number): Promise<AppendCosts> {
  const s = { full: [] as number[], logOnly: [] as number[], coins: [] as number[], exchanges: [] as number[], hash: [] as number[], validate: [] as number[], reducer: [] as number[] };
  for (let r = 0; r < reps; r++) {
    s.full.push((await appendWith(ws, "full", PROJECTIONS, drafts)).ms);
    const logOnly = await appendWith(ws, "log-only", [], drafts);
    s.logOnly.push(logOnly.ms);
    s.coins.push((await appendWith(ws, "coins-only", [coinsProjection], drafts)).ms);
    s.exchanges.push((await appendWith(ws, "exchanges-only", [exchangesProjection], drafts)).ms);
    const events: SharedEvent[] = logOnly.events;
    s.hash.push(timeMs(() => {
      for (const e of events) eventHash(e as WalletEvent);
    }));
    s.validate.push(timeMs(() => {
      for (const d of drafts) validatePayload(d.type, d.data, "bench");
    }));
    const inMemory = recordsInMemory();
    s.reducer.push(timeMs(() => {
      for (const e of events) coinsProjection.evolveShared!(inMemory, e);
    }));
  }
  return {
    fullMs: median(s.full),
    logOnlyMs: median(s.logOnly),
    coinsOnlyMs: median(s.coins),
    exchangesOnlyMs: median(s.exchanges),
    hashMs: median(s.hash),
    validateMs: median(s.validate),
    coinsReducerMs: median(s.reducer),
  };
}

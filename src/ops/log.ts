// The log: its clock, export and import (merge), and the projections' rebuild.
import { normalizeClock, seqOf, type VectorClock } from "../events/clock.ts";
import type { WriteTxn } from "../events/store.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { operation } from "../engine/operation.ts";
import { maybe, nothing, object, optional, positiveCount, vectorClock } from "../engine/request.ts";
import { thrownText, WalletError } from "../errors.ts";
import { exportFrom, importInto, type ImportResult } from "../merge/log-merge.ts";

const eventBatch = (v: unknown, path: string): unknown[] => {
  if (!Array.isArray(v)) throw new WalletError("request-invalid", `${path}: importEvents expects an array of events`, { path });
  // A copy, read here: a Proxy's trap or an element's getter that throws is a bad request, and the
  // import's write then reads a plain array (one pointer per event).
  try {
    return Array.prototype.slice.call(v);
  } catch (e) {
    throw new WalletError("request-invalid", `${path}: the events could not be read: ${thrownText(e)}`, { path });
  }
};

/**
 * Records, as local facts, when this wallet heard from each device whose events it just added, and
 * what that device then held. Retirement reads "not heard from" from these: the author's own
 * `time` on an event is its wall clock, so a device that was offline (or whose clock runs behind)
 * would be retired the moment its events arrived.
 */
export function noteArrivals(tx: WriteTxn, before: VectorClock, at: number): void {
  const after = tx.clock();
  for (const d of Object.keys(after)) {
    if (d === tx.deviceId || after[d] <= seqOf(before, d)) continue;
    const e = tx.getEvent(d, after[d]);
    const clock: VectorClock = e ? { ...e.deps, [d]: e.seq } : { [d]: after[d] };
    tx.appendLocal({ type: "device-knowledge-learned", data: { device: d, clock } }, at);
  }
}

export const logOperations = {
  getVectorClock: operation(nothing, (ctx) => normalizeClock(ctx.store.clock())),

  exportEvents: operation(maybe(object({ since: optional(vectorClock), limit: optional(positiveCount) })), (ctx, req) =>
    exportFrom(ctx.store, req.since ?? {}, req.limit) as WalletEvent[],
  ),

  importEvents: operation(eventBatch, (ctx, events): ImportResult => {
    const at = ctx.now();
    const result = ctx.write((tx) => {
      const before = tx.clock();
      const r = importInto(tx, events);
      noteArrivals(tx, before, at);
      return r;
    });
    if (result.added > 0) ctx.emit({ type: "events-imported", added: result.added, known: result.known });
    return result;
  }),

  /** Drops the materialized projections and folds them again from the log. */
  rebuild: operation(nothing, (ctx) => ctx.store.rebuild()),

  /** Every projection record (for diagnostics and rebuild checks). */
  dumpProjections: operation(nothing, (ctx) => ctx.store.dumpRecords()),
};

// Merging a snapshot and its tail (what a compacted backup carries): the same
// result as importing every event the snapshot stands for and then the tail.
//
// A wallet that holds every event at or below the snapshot's frontier needs
// only the tail. One that lacks some (a new device, or one that was retired
// while the frontier moved past it) adopts the snapshot as its base and folds
// the events it holds above the frontier on top: the fold of a causally closed
// set first, then the rest in causal order, is a causal linearization, so the
// projections equal a fold of the whole event set (the convergence law).
// The same holds where this wallet's own base reaches above the snapshot's
// frontier for some device (each compacted alone), as long as it still holds
// those events in its log: they are above the new base and folded again.
import { WalletError } from "../errors.ts";
import { leq, seqOf } from "../events/clock.ts";
import type { Snapshot, WriteTxn } from "../events/store.ts";
import { importInto, type ImportResult } from "./log-merge.ts";

export interface SnapshotImportResult extends ImportResult {
  /** True when this wallet adopted the snapshot as its base (it lacked events below the frontier). */
  adopted: boolean;
}

/**
 * Merges `snapshot` (if any) and the events above its frontier into the
 * wallet inside `tx`. Throws WalletError, writing nothing, when the tail does
 * not continue the snapshot or anything is malformed.
 */
export function importSnapshotAndTail(tx: WriteTxn, snapshot: Snapshot | undefined, tail: unknown): SnapshotImportResult {
  if (!Array.isArray(tail)) throw new WalletError("request-invalid", "the tail must be an array of events");
  if (!snapshot) return { ...importInto(tx, tail), adopted: false };
  // The tail must start right above the frontier: no event at or below it, each device's first one chaining to its head.
  for (const raw of tail) {
    const e = raw as { device?: unknown; seq?: unknown; prev?: unknown };
    if (typeof e?.device !== "string" || typeof e.seq !== "number") continue; // importInto names what is wrong with it
    const f = seqOf(snapshot.frontier, e.device);
    if (e.seq <= f) {
      throw new WalletError("snapshot-inconsistent", `the tail holds ${e.device}:${e.seq}, at or below the snapshot's frontier`, { device: e.device, seq: e.seq });
    }
    if (e.seq === f + 1 && f > 0 && e.prev !== snapshot.heads[e.device]?.hash) {
      throw new WalletError("snapshot-inconsistent", `${e.device}:${e.seq} does not chain to the snapshot's head ${e.device}:${f}`, { device: e.device, seq: e.seq });
    }
  }
  const before = tx.clock();
  const adopt = !leq(snapshot.frontier, before);
  // The events the snapshot stands for and this wallet lacked count as added, like the tail's.
  let fromSnapshot = 0;
  if (adopt) {
    tx.adoptSnapshot(snapshot);
    const after = tx.clock();
    for (const d of Object.keys(after)) fromSnapshot += after[d] - seqOf(before, d);
  }
  const r = importInto(tx, tail);
  return { added: r.added + fromSnapshot, known: r.known, adopted: adopt };
}

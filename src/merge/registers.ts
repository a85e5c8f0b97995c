// CRDT building blocks the projections are made of. Each is a function of the
// *set* of events folded into it, never of their order, given causal delivery
// (a device's events arrive in seq order and after everything in their deps).
//
// Observed-remove: a delete event carries its author's causal past (`deps`).
// A record joins those pasts into `removed`. A contribution with dot (d, s) is
// removed iff removed[d] >= s, so a delete removes exactly what its author had
// seen; anything concurrent (a withdrawal on another device) survives: add-wins.
import { covers, type VectorClock } from "../events/clock.ts";

type Stamped = { device: string; seq: number; lamport: number };

/**
 * Last-writer-wins register kept per device: each device's latest write.
 * Keeping one entry per device (not one overall) is what makes LWW compose
 * with observed-remove: when a device's latest write is removed, all its
 * earlier ones are too, and a concurrent write from another device still shows.
 */
export type Register<T> = Record<string, { l: number; s: number; v: T }>;

/** Records a write by event `e` (called in causal order, so a later seq replaces an earlier one). */
export function writeRegister<T>(reg: Register<T>, e: Stamped, v: T): void {
  reg[e.device] = { l: e.lamport, s: e.seq, v };
}

/** The winning write not removed: highest (lamport, device). */
export function readRegister<T>(reg: Register<T>, removed: VectorClock): { v: T; l: number; device: string } | undefined {
  let best: { v: T; l: number; device: string } | undefined;
  for (const d in reg) {
    const w = reg[d];
    if (covers(removed, d, w.s)) continue;
    if (!best || w.l > best.l || (w.l === best.l && d > best.device)) best = { v: w.v, l: w.l, device: d };
  }
  return best;
}

/** Contributions to a fact, as the highest contributing seq per device. */
export type Contributions = VectorClock;

export function contribute(c: Contributions, e: Stamped): void {
  if ((c[e.device] ?? 0) < e.seq) c[e.device] = e.seq;
}

/** True when some contribution was not observed by a delete. */
export function survives(c: Contributions, removed: VectorClock): boolean {
  for (const d in c) if (!covers(removed, d, c[d])) return true;
  return false;
}

/** Drops entries that `removed` covers: they can never show again, since removed only grows. */
export function pruneContributions(c: Contributions, removed: VectorClock): void {
  for (const d of Object.keys(c)) if (covers(removed, d, c[d])) delete c[d];
}

export function pruneRegister<T>(reg: Register<T>, removed: VectorClock): void {
  for (const d of Object.keys(reg)) if (covers(removed, d, reg[d].s)) delete reg[d];
}

/** Total order of events used wherever one write must win: (lamport, device, seq). */
export function stampLess(a: { l: number; d: string; s: number }, b: { l: number; d: string; s: number }): boolean {
  return a.l < b.l || (a.l === b.l && (a.d < b.d || (a.d === b.d && a.s < b.s)));
}

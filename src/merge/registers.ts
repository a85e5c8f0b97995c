// CRDT building blocks the projections are made of. Each is a function of the
// *set* of events folded into it, never of their order, given causal delivery
// (a device's events arrive in seq order and after everything in their deps).
//
// Observed-remove: a delete event carries its author's causal past (`deps`).
// A record joins those pasts into `removed`. A contribution with dot (d, s) is
// removed iff removed[d] >= s, so a delete removes exactly what its author had
// seen; anything concurrent (a withdrawal on another device) survives: add-wins.
//
// Keys here are device ids, which arrive in imported events: they live in Maps
// and null-prototype clocks, never as properties of plain objects.
import { covers, emptyClock, type VectorClock } from "../events/clock.ts";
import { deviceId } from "../events/catalogue.ts";
import { array, nat, tuple, type Schema } from "../events/schema.ts";

type Stamped = { device: string; seq: number; lamport: number };

/** One device's latest write to a register. */
export interface RegisterWrite<T> {
  l: number;
  s: number;
  v: T;
}

/**
 * Last-writer-wins register kept per device: each device's latest write.
 * Keeping one entry per device (not one overall) is what makes LWW compose
 * with observed-remove: when a device's latest write is removed, all its
 * earlier ones are too, and a concurrent write from another device still shows.
 */
export type Register<T> = Map<string, RegisterWrite<T>>;

/** Records a write by event `e` (called in causal order, so a later seq replaces an earlier one). */
export function writeRegister<T>(reg: Register<T>, e: Stamped, v: T): void {
  reg.set(e.device, { l: e.lamport, s: e.seq, v });
}

/** The winning write not removed: highest (lamport, device). */
export function readRegister<T>(reg: Register<T>, removed: VectorClock): { v: T; l: number; device: string } | undefined {
  let best: { v: T; l: number; device: string } | undefined;
  for (const [d, w] of reg) {
    if (covers(removed, d, w.s)) continue;
    if (!best || w.l > best.l || (w.l === best.l && d > best.device)) best = { v: w.v, l: w.l, device: d };
  }
  return best;
}

/** Contributions to a fact, as the highest contributing seq per device. */
export type Contributions = Map<string, number>;

export function contribute(c: Contributions, e: Stamped): void {
  if ((c.get(e.device) ?? 0) < e.seq) c.set(e.device, e.seq);
}

/** True when some contribution was not observed by a delete. */
export function survives(c: Contributions, removed: VectorClock): boolean {
  for (const [d, s] of c) if (!covers(removed, d, s)) return true;
  return false;
}

/** Drops entries that `removed` covers: they can never show again, since removed only grows. */
export function pruneContributions(c: Contributions, removed: VectorClock): void {
  for (const [d, s] of c) if (covers(removed, d, s)) c.delete(d);
}

/** Drops the writes `removed` covers; returns the devices whose write went. */
export function pruneRegister<T>(reg: Register<T>, removed: VectorClock): string[] {
  const gone: string[] = [];
  for (const [d, w] of reg) {
    if (covers(removed, d, w.s)) {
      reg.delete(d);
      gone.push(d);
    }
  }
  return gone;
}

/** Total order of events used wherever one write must win: (lamport, device, seq). */
export function stampLess(a: { l: number; d: string; s: number }, b: { l: number; d: string; s: number }): boolean {
  return a.l < b.l || (a.l === b.l && (a.d < b.d || (a.d === b.d && a.s < b.s)));
}

// ---------------------------------------------------------------- JSON forms
//
// Entries sorted by device, so two replicas holding the same state store the
// same bytes (and dumps compare equal), whatever order the entries came in.

const byFirst = <T extends [string, ...unknown[]]>(a: T, b: T) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export type ClockJson = [string, number][];
export type RegisterJson<J> = [string, number, number, J][];

/** The stored form of a clock or of contributions: [device, seq] pairs. */
export const clockJsonShape: Schema<unknown> = array(tuple(deviceId, nat));

/** The stored form of a register whose values have the shape `value`: [device, lamport, seq, value] entries. */
export const registerJsonShape = (value: Schema<unknown>): Schema<unknown> => array(tuple(deviceId, nat, nat, value));

export function clockToJson(c: VectorClock): ClockJson {
  return Object.keys(c)
    .sort()
    .map((d) => [d, c[d]]);
}

export function clockFromJson(j: ClockJson): VectorClock {
  const c = emptyClock();
  for (const [d, s] of j) c[d] = s;
  return c;
}

export const contributionsToJson = (c: Contributions): ClockJson => [...c].sort(byFirst);
export const contributionsFromJson = (j: ClockJson): Contributions => new Map(j);

export function registerToJson<T, J>(reg: Register<T>, enc: (v: T) => J): RegisterJson<J> {
  return [...reg].map(([d, w]): [string, number, number, J] => [d, w.l, w.s, enc(w.v)]).sort(byFirst);
}

export function registerFromJson<T, J>(j: RegisterJson<J>, dec: (v: J) => T): Register<T> {
  return new Map(j.map(([d, l, s, v]) => [d, { l, s, v: dec(v) }]));
}


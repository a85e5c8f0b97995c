// Dots and vector clocks: the causal coordinates events and merge share.
//
// Device ids are untrusted strings (they arrive in imported events), so a
// clock the engine reads must never answer for a key it does not hold: every
// read goes through own keys (`seqOf`, `covers`), so `clock.constructor` is
// 0, not Object's constructor, and the clocks built for merging have a null
// prototype. `normalizeClock` gives a plain object, for output and storage;
// `__proto__`, the one key a plain object cannot hold, is no device id.

/** A vector clock: device id → highest seq of that device included. Absent = 0. */
export type VectorClock = Record<string, number>;

/** The name of one event forever: the device that wrote it and its seq there (1, 2, 3 …). */
export interface Dot {
  device: string;
  seq: number;
}

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** `__proto__` is the one name a plain JavaScript object cannot hold as a key. */
export const isReservedName = (s: string): boolean => s === "__proto__";

export function isDeviceId(s: unknown): s is string {
  return typeof s === "string" && DEVICE_ID_PATTERN.test(s) && !isReservedName(s);
}

export function dotName(e: Dot): string {
  return `${e.device}:${e.seq}`;
}

/** A new empty clock (null prototype). */
export function emptyClock(): VectorClock {
  return Object.create(null) as VectorClock;
}

/** A null-prototype copy of `c`. */
export function copyClock(c: VectorClock): VectorClock {
  const out = emptyClock();
  for (const d of Object.keys(c)) out[d] = c[d];
  return out;
}

const own = (c: VectorClock, d: string): number => (Object.prototype.hasOwnProperty.call(c, d) ? c[d] : 0);

/** The seq a clock holds for a device (0 when absent), safe for any device name. */
export function seqOf(clock: VectorClock, device: string): number {
  return own(clock, device);
}

/** True when the dot (device, seq) is included in the clock. */
export function covers(clock: VectorClock, device: string, seq: number): boolean {
  return own(clock, device) >= seq;
}

/** a ≤ b pointwise. */
export function leq(a: VectorClock, b: VectorClock): boolean {
  for (const d of Object.keys(a)) if (a[d] > own(b, d)) return false;
  return true;
}

/** Pointwise maximum (the join of the lattice). Returns `a` itself when nothing grows. */
export function join(a: VectorClock, b: VectorClock): VectorClock {
  let out: VectorClock | undefined;
  for (const d of Object.keys(b)) {
    if (b[d] > own(a, d)) {
      out ??= copyClock(a);
      out[d] = b[d];
    }
  }
  return out ?? a;
}

/** Pointwise minimum over clocks: the part every one of them has seen. */
export function meet(clocks: VectorClock[]): VectorClock {
  const out = emptyClock();
  if (clocks.length === 0) return out;
  for (const d of Object.keys(clocks[0])) {
    let m = clocks[0][d];
    for (const c of clocks) m = Math.min(m, own(c, d));
    if (m > 0) out[d] = m;
  }
  return out;
}

/** Clock with entries sorted by device and zeros dropped, so equal clocks serialize equally (a plain object). */
export function normalizeClock(c: VectorClock): VectorClock {
  const out: VectorClock = {};
  for (const d of Object.keys(c).sort()) if (c[d] > 0) out[d] = c[d];
  return out;
}

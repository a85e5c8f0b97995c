/** A vector clock: device id → highest seq of that device included. Absent = 0. */
export type VectorClock = Record<string, number>;

/** True when the dot (device, seq) is included in the clock. */
export function covers(clock: VectorClock, device: string, seq: number): boolean {
  return (clock[device] ?? 0) >= seq;
}

/** a ≤ b pointwise. */
export function leq(a: VectorClock, b: VectorClock): boolean {
  for (const d in a) if (a[d] > (b[d] ?? 0)) return false;
  return true;
}

/** Pointwise maximum (the join of the lattice). Returns `a` itself when nothing grows. */
export function join(a: VectorClock, b: VectorClock): VectorClock {
  let out: VectorClock | undefined;
  for (const d in b) {
    if (b[d] > (a[d] ?? 0)) {
      out ??= { ...a };
      out[d] = b[d];
    }
  }
  return out ?? a;
}

/** Pointwise minimum over clocks: the part every one of them has seen. */
export function meet(clocks: VectorClock[]): VectorClock {
  if (clocks.length === 0) return {};
  const out: VectorClock = {};
  for (const d in clocks[0]) {
    let m = clocks[0][d];
    for (const c of clocks) m = Math.min(m, c[d] ?? 0);
    if (m > 0) out[d] = m;
  }
  return out;
}

/** Clock with entries sorted by device and zeros dropped, so equal clocks serialize equally. */
export function normalizeClock(c: VectorClock): VectorClock {
  const out: VectorClock = {};
  for (const d of Object.keys(c).sort()) if (c[d] > 0) out[d] = c[d];
  return out;
}

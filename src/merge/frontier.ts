// The stable frontier: the events every known device is known to hold. Events
// at or below it can be folded into a snapshot without any device needing
// them as events again.
//
// What a device is known to hold (its acknowledgement) comes from two places:
// the log itself (a device that wrote an event had seen that event's causal
// past) and the backups this wallet merged (a backup says which clock its
// device held when it wrote it). Each is the clock of a causally closed set,
// so their meet is causally closed too: a valid frontier.
//
// A device not heard from for `retireAfterMs` is retired: it stops holding
// the frontier back. What that costs: if it comes back, it lacks events the
// others folded away, so it must take a snapshot (adopt it as its base and
// fold its own newer events on top) instead of plain events; and below that
// snapshot's frontier, it can no longer prove a peer's event is the one it
// held (equivocation there goes unnoticed).
import { emptyClock, join, meet, type VectorClock } from "../events/clock.ts";

export interface DeviceKnowledge {
  /** The clock the device is known to have held. */
  clock: VectorClock;
  /** When this wallet last heard of it (its newest event's time, or when its backup was merged), ms. */
  heardAt: number;
}

export interface FrontierInputs {
  /** This device: never retired, its own clock is what it holds. */
  self: string;
  clock: VectorClock;
  /** Per device, what the log and the merged backups say it held. */
  known: Map<string, DeviceKnowledge>;
  now: number;
  retireAfterMs: number;
}

export interface Frontier {
  frontier: VectorClock;
  /** Devices left out because they were not heard from for too long. */
  retired: string[];
}

/** Joins what one source says a device held into what is known of it. */
export function learn(known: Map<string, DeviceKnowledge>, device: string, k: DeviceKnowledge): void {
  const had = known.get(device);
  known.set(device, had ? { clock: join(had.clock, k.clock), heardAt: Math.max(had.heardAt, k.heardAt) } : { clock: { ...k.clock }, heardAt: k.heardAt });
}

/** The pointwise minimum of what every device that is not retired holds (this device included). */
export function stableFrontier(i: FrontierInputs): Frontier {
  const retired: string[] = [];
  const clocks: VectorClock[] = [i.clock];
  for (const [device, k] of [...i.known].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (device === i.self) continue;
    if (k.heardAt + i.retireAfterMs < i.now) {
      retired.push(device);
      continue;
    }
    clocks.push(k.clock);
  }
  const f = meet(clocks);
  const out = emptyClock();
  for (const d of Object.keys(f).sort()) out[d] = f[d];
  return { frontier: out, retired };
}

// Multi-device histories as plain data: a list of requests and syncs that
// fast-check generates and shrinks, so a counterexample prints as a short,
// readable list of steps. The simulator (simulator.ts) plays them on real
// wallets; the same histories drive benchmarks (sampleHistory).
//
// Steps name what they act on by index into what the device knows at that
// moment (modulo), so any shrink stays meaningful; ids are derived from the
// device and a per-device counter when the step is played, so dots and coin
// pubs are unique by construction and a replayed history makes the same ids.
import fc from "fast-check";

/** The exchanges histories act on. Two share a currency so balances mix coins of several exchanges. */
export const EXCHANGES = [
  { url: "https://ex0.test/", currency: "KUDOS" },
  { url: "https://ex1.test/", currency: "KUDOS" },
  { url: "https://ex2.test/", currency: "TESTKUDOS" },
] as const;

/** The ToS etags histories accept. */
export const TOS_ETAGS = ["tos-v1", "tos-v2", "tos-v3"] as const;
/** Spend ids several devices may use for "the same purchase", to exercise one spend id recorded twice. */
export const SHARED_SPEND_IDS = ["p0", "p1"] as const;

/** The device id of device number `i` of a history ("dev0", "dev1" …). */
export const deviceName = (i: number): string => `dev${i}`;

/** Arguments of each request. Indices pick among what the device knows at that moment (modulo), so any shrink stays meaningful. */
export interface OpArgs {
  addExchange: { ex: number; preset: boolean };
  setExchangeTosAccepted: { ex: number; etag: string };
  setExchangeTosForgotten: { ex: number };
  setExchangeSuspended: { ex: number; suspended: boolean };
  /** `group`: null for a new group, else an index into the groups the device knows; `coins`: coin values; `pending`: instructed beyond the coins. */
  recordWithdrawal: { ex: number; group: number | null; coins: string[]; pending: string | null };
  /** `coin`: index into the live coins the device knows; `spendId`: null for a fresh one. Spends `share` of the coin's value (not of what is left: concurrent spends then overspend). */
  recordSpend: { coin: number; share: number; spendId: string | null };
  /** Consumes `share` of one coin's value and produces `outputs` coins sharing it equally. */
  recordRefresh: { coin: number; share: number; outputs: 0 | 1 | 2 };
  abortWithdrawal: { group: number };
  deleteExchange: { ex: number; purge: boolean };
}
/** The requests a history can make. */
export type OpName = keyof OpArgs;
/** One request by one device. */
export type OpStep = { [K in OpName]: { device: number; op: K; args: OpArgs[K] } }[OpName];
/** `to` imports what `from` has and `to` lacks. */
export interface SyncStep {
  sync: true;
  from: number;
  to: number;
}
/** The device's syncs are skipped for the next `steps` steps (it keeps working locally). */
export interface OfflineStep {
  offline: number;
  steps: number;
}
export type Step = OpStep | SyncStep | OfflineStep;

/** A multi-device history: `devices` wallets, `steps` played in order. */
export interface History {
  devices: number;
  steps: Step[];
}

export const isSync = (s: Step): s is SyncStep => "sync" in s;
export const isOffline = (s: Step): s is OfflineStep => "offline" in s;

function formatArgs(args: object): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(",")}]` : v === null ? "-" : String(v)}`)
    .join(" ");
}

/** One step as a line: "dev1 recordSpend coin=0 share=0.5 spendId=p1", "sync dev0 → dev2". */
export function formatStep(s: Step): string {
  if (isSync(s)) return `sync ${deviceName(s.from)} → ${deviceName(s.to)}`;
  if (isOffline(s)) return `${deviceName(s.offline)} offline for ${s.steps} steps`;
  return `${deviceName(s.device)} ${s.op} ${formatArgs(s.args)}`;
}

/** A history as numbered lines, as counterexamples print it. */
export function formatHistory(h: History): string {
  const lines = h.steps.map((s, i) => `  ${String(i).padStart(3)}: ${formatStep(s)}`);
  return `History(${h.devices} devices, ${h.steps.length} steps)\n${lines.join("\n")}`;
}

/** Gives a hand-written history the printer fast-check uses in counterexamples. */
export function withToString(h: History): History {
  return Object.defineProperty(h, fc.toStringMethod, { value: () => formatHistory(h), enumerable: false });
}

/** The size of generated histories. */
export interface HistoryShape {
  devices: number;
  minSteps?: number;
  maxSteps: number;
  /** How many of EXCHANGES are in play (default 2: fewer exchanges, more collisions). */
  exchanges?: number;
}

const coinValue = fc.constantFrom("0.5", "1", "2", "5");
const share = fc.constantFrom(0.25, 0.5, 0.75, 1);

/** One random step: a request by some device (weighted towards withdrawals and spends), a sync, or a device going offline. */
export function stepArb(shape: HistoryShape): fc.Arbitrary<Step> {
  const n = shape.devices;
  const device = fc.nat({ max: n - 1 });
  const ex = fc.nat({ max: (shape.exchanges ?? 2) - 1 });
  const pick = fc.nat({ max: 7 });
  const op = <K extends OpName>(name: K, args: fc.Arbitrary<OpArgs[K]>) =>
    fc.record({ device, op: fc.constant(name), args }) as fc.Arbitrary<Step>;
  // Cross-shrinking turns steps a counterexample does not need into the
  // first alternative (an addExchange that is mostly a no-op).
  const ops = fc.oneof(
    { withCrossShrink: true },
    { weight: 3, arbitrary: op("addExchange", fc.record({ ex, preset: fc.boolean() })) },
    { weight: 3, arbitrary: op("setExchangeTosAccepted", fc.record({ ex, etag: fc.constantFrom(...TOS_ETAGS) })) },
    { weight: 1, arbitrary: op("setExchangeTosForgotten", fc.record({ ex })) },
    { weight: 1, arbitrary: op("setExchangeSuspended", fc.record({ ex, suspended: fc.boolean() })) },
    {
      weight: 10,
      arbitrary: op(
        "recordWithdrawal",
        fc.record({
          ex,
          group: fc.option(pick, { freq: 3 }),
          coins: fc.array(coinValue, { minLength: 0, maxLength: 3 }),
          pending: fc.option(coinValue, { freq: 2 }),
        }),
      ),
    },
    {
      weight: 12,
      arbitrary: op(
        "recordSpend",
        fc.record({ coin: pick, share, spendId: fc.option(fc.constantFrom(...SHARED_SPEND_IDS), { freq: 4 }) }),
      ),
    },
    {
      weight: 2,
      arbitrary: op("recordRefresh", fc.record({ coin: pick, share, outputs: fc.constantFrom(0 as const, 1 as const, 2 as const) })),
    },
    { weight: 1, arbitrary: op("abortWithdrawal", fc.record({ group: pick })) },
    { weight: 2, arbitrary: op("deleteExchange", fc.record({ ex, purge: fc.boolean() })) },
  );
  const pair = fc
    .tuple(device, fc.nat({ max: Math.max(0, n - 2) }))
    .map(([from, k]) => ({ sync: true as const, from, to: (from + 1 + k) % n }));
  const offline = fc.record({ offline: device, steps: fc.integer({ min: 1, max: 8 }) });
  return fc.oneof({ withCrossShrink: true }, { weight: 14, arbitrary: ops }, { weight: 6, arbitrary: pair }, { weight: 1, arbitrary: offline });
}

/**
 * Random multi-device histories with a readable toString. Every device first
 * adds ex0, and some add the other exchanges or withdraw a few coins (a
 * shrinkable setup, not counted in maxSteps), so most requests find
 * something to act on.
 */
export function historyArb(shape: HistoryShape): fc.Arbitrary<History> {
  if (shape.devices < 2) throw new Error("a history needs at least two devices");
  const always: Step[] = [];
  const optional: Step[] = [];
  for (let device = 0; device < shape.devices; device++) {
    for (let ex = 0; ex < (shape.exchanges ?? 2); ex++) {
      if (ex === 0) always.push({ device, op: "addExchange", args: { ex, preset: false } });
      else for (const preset of [true, false]) optional.push({ device, op: "addExchange", args: { ex, preset } });
    }
    optional.push({ device, op: "recordWithdrawal", args: { ex: 0, group: null, coins: ["1", "2", "5"], pending: null } });
  }
  return fc
    .tuple(
      fc.shuffledSubarray(optional),
      fc.array(stepArb(shape), { minLength: shape.minSteps ?? 0, maxLength: shape.maxSteps, size: "max" }),
    )
    .map(([setup, steps]) => withToString({ devices: shape.devices, steps: [...always, ...setup, ...steps] }));
}

/** One reproducible history of about maxSteps steps, for benchmarks (no fast-check runner needed). */
export function sampleHistory(seed: number, shape: HistoryShape): History {
  const [h] = fc.sample(historyArb({ ...shape, minSteps: shape.minSteps ?? shape.maxSteps }), { seed, numRuns: 1 });
  return h;
}

// Given facts, when a request, then events (or a refusal): the harness of the
// decider specs. Facts are folded into in-memory records through the same
// projections the engine runs, each stamped as a real shared event envelope,
// so a spec exercises deciders and reducers exactly as the store would, with
// no store at all.
//
// Facts arrive in the order listed. Unless a fact says otherwise, its author
// had seen every fact before it; `by(device, fact, saw)` names what the author
// had seen instead, which is how a spec states concurrency ("B withdrew
// without having seen A's delete").
import { expect } from "vitest";
import type { Decision, LocalDraft, SharedDraft } from "../../src/events/catalogue.ts";
import { emptyClock, join, leq, seqOf, type VectorClock } from "../../src/events/clock.ts";
import { eventHash, validatePayload, validateSharedEvent, type LocalEvent, type SharedEvent, type WalletEvent } from "../../src/events/envelope.ts";
import { memoryRecords, tablesOf, type Records } from "../../src/events/records.ts";
import { WalletError, type ErrorCode } from "../../src/errors.ts";
import { PROJECTIONS } from "../../src/projections/index.ts";

/** The fixed clock of every spec: facts happen at NOW unless `at` says otherwise. */
export const NOW = Date.UTC(2025, 0, 1);

/** How a fact is stamped: its author, what the author had seen (other devices), and its wall-clock time. */
interface Stamp {
  device?: string;
  deps?: VectorClock;
  time?: number;
}
export type Fact = (SharedDraft | LocalDraft) & Stamp;

/** A shared fact authored by `device`; with `saw`, the author had seen only that much of the other devices. */
export const by = <F extends SharedDraft>(device: string, fact: F, saw?: VectorClock): F & Stamp =>
  saw === undefined ? { ...fact, device } : { ...fact, device, deps: saw };

/** A fact that happened at `time` (ms) on its author's clock. */
export const at = <F extends Fact>(time: number, fact: F): F => ({ ...fact, time });

const isLocal = (f: Fact): f is LocalDraft & Stamp =>
  f.type === "exchange-update-attempted" || f.type === "exchange-update-settled";

/** A decider reads the records, and some (a retry's check) the log: the given facts' envelopes. */
type Decider<Q, R> = (records: Records, request: Q, eventAt: (device: string, seq: number) => SharedEvent | undefined) => Decision<R>;

export interface Given {
  /** The records the facts folded into. */
  readonly records: Records;
  /** The shared facts as stamped envelopes, in arrival order. */
  readonly log: SharedEvent[];
  when<Q, R>(decide: Decider<Q, R>, request: Q): When<R>;
}

export interface When<R> {
  /** Then exactly these events, and (for deciders with a result) this result. */
  then(events: SharedDraft[], ...result: R extends void ? [] : [R]): void;
  /** Then nothing is appended (and this result, if the decider has one). */
  thenNothing(...result: R extends void ? [] : [R]): void;
  /** Then the request is refused with this WalletError code. */
  refused(code: ErrorCode): void;
}

export function given(...facts: Fact[]): Given {
  const records = memoryRecords(tablesOf(PROJECTIONS));
  const log: SharedEvent[] = [];
  let seen = emptyClock();
  const lamports = new Map<string, number>();
  const heads = new Map<string, string>();
  let localN = 1;

  for (const f of facts) {
    const { device = "A", deps: saw, time = NOW, ...draft } = f;
    if (isLocal(f)) {
      validatePayload(draft.type, draft.data, "given");
      const e = { n: localN++, time, ...draft } as LocalEvent;
      for (const p of PROJECTIONS) p.evolveLocal?.(records, e);
      continue;
    }
    const seq = seqOf(seen, device) + 1;
    const deps = emptyClock();
    for (const [d, s] of Object.entries(saw ?? seen)) if (d !== device && s > 0) deps[d] = s;
    if (seq > 1) deps[device] = seq - 1;
    // Causal delivery: a fact can only depend on facts already given.
    if (!leq(deps, seen)) throw new Error(`given: ${device}:${seq} saw ${JSON.stringify(deps)}, beyond the facts before it`);
    // 1 + the largest lamport its author had seen (a device's lamports grow with its seq).
    let lamport = 0;
    for (const [d, s] of Object.entries(deps)) lamport = Math.max(lamport, lamports.get(`${d}:${s}`)!);
    const prev = heads.get(device);
    const e = validateSharedEvent(
      { device, seq, lamport: lamport + 1, deps: { ...deps }, time, ...(prev ? { prev } : {}), ...draft },
      "given",
    );
    lamports.set(`${device}:${seq}`, e.lamport);
    heads.set(device, eventHash(e as WalletEvent));
    seen = join(seen, { [device]: seq });
    for (const p of PROJECTIONS) p.evolveShared?.(records, e);
    log.push(e);
  }

  return {
    records,
    log,
    when<Q, R>(decide: Decider<Q, R>, request: Q): When<R> {
      const before = JSON.stringify(records.dump());
      let outcome: { decision: Decision<R> } | { error: unknown };
      try {
        outcome = { decision: decide(records, request, (d, s) => log.find((e) => e.device === d && e.seq === s)) };
      } catch (error) {
        outcome = { error };
      }
      // Deciders read; they never write, whether they decide or refuse.
      expect(JSON.stringify(records.dump()), "the decider changed the records").toBe(before);
      const decided = (): Decision<R> => {
        if ("error" in outcome) throw outcome.error;
        // What the store would refuse to append is a decider bug, not a decision.
        for (const e of outcome.decision.events) validatePayload(e.type, e.data, "decided");
        return outcome.decision;
      };
      return {
        then(events, ...result) {
          const d = decided();
          expect(d.events).toStrictEqual(events);
          expect(d.result).toStrictEqual(result[0]);
        },
        thenNothing(...result) {
          const d = decided();
          expect(d.events).toStrictEqual([]);
          expect(d.result).toStrictEqual(result[0]);
        },
        refused(code) {
          if ("decision" in outcome) {
            expect.fail(`expected a refusal with ${code}, got events ${JSON.stringify(outcome.decision.events)}`);
          }
          const error = (outcome as { error: unknown }).error;
          if (!(error instanceof WalletError)) throw error;
          expect(error.code).toBe(code);
        },
      };
    },
  };
}

// Importing a remote log is set union with causal delivery; exporting gives
// another replica what it lacks, in a causal order.
//
// Import is all or nothing: it runs inside one write transaction and throws
// before (or while) writing on the first problem, which rolls everything back.
import { WalletError } from "../errors.ts";
import { dotName, eventHash, validateSharedEvent, type SharedEvent } from "../events/envelope.ts";
import type { Store, WriteTxn } from "../events/store.ts";
import type { VectorClock } from "../events/clock.ts";

export interface ImportResult {
  /** Events new to this wallet, now applied. */
  added: number;
  /** Events this wallet already had (or that appeared twice in the batch). */
  known: number;
}

/** Merges `raw` into the wallet inside `tx`. Throws WalletError (and so writes nothing) on any bad event. */
export function importInto(tx: WriteTxn, raw: unknown): ImportResult {
  if (!Array.isArray(raw)) throw new WalletError("request-invalid", "importEvents expects an array of events");
  const batch = new Map<string, { e: SharedEvent; hash: string }>();
  const fresh = new Map<string, SharedEvent[]>();
  let known = 0;

  for (let i = 0; i < raw.length; i++) {
    const e = validateSharedEvent(raw[i], `events[${i}]`);
    const hash = eventHash(e);
    const dot = dotName(e);
    const twin = batch.get(dot);
    if (twin) {
      if (twin.hash !== hash) throw equivocation(e);
      known++;
      continue;
    }
    const head = tx.head(e.device);
    if (head && e.seq <= head.seq) {
      const storedHash = e.seq === head.seq ? head.hash : eventHash(tx.getEvent(e.device, e.seq)!);
      if (storedHash !== hash) throw equivocation(e);
      batch.set(dot, { e, hash });
      known++;
      continue;
    }
    if (e.device === tx.deviceId) {
      throw new WalletError(
        "import-own-device",
        `${dot} claims to be authored by this device, which never wrote it`,
        { device: e.device, seq: e.seq },
      );
    }
    batch.set(dot, { e, hash });
    let q = fresh.get(e.device);
    if (!q) fresh.set(e.device, (q = []));
    q.push(e);
  }

  // Each device's new events must continue its chain densely from what we hold.
  for (const [device, q] of fresh) {
    q.sort((a, b) => a.seq - b.seq);
    const head = tx.head(device);
    let expectSeq = (head?.seq ?? 0) + 1;
    let expectPrev = head?.hash;
    for (const e of q) {
      if (e.seq !== expectSeq) {
        throw new WalletError(
          "import-missing-deps",
          `${dotName(e)} cannot be applied: ${device}:${expectSeq} is missing from both this wallet and the batch`,
          { device, seq: e.seq, missing: { device, seq: expectSeq } },
        );
      }
      if (e.prev !== expectPrev) {
        throw new WalletError("import-broken-chain", `${dotName(e)} does not chain to ${device}:${e.seq - 1} (prev hash differs)`, {
          device,
          seq: e.seq,
        });
      }
      expectSeq++;
      expectPrev = batch.get(dotName(e))!.hash;
    }
  }

  // Causal delivery: apply an event once everything in its deps is present.
  const clock: VectorClock = tx.clock();
  const lamportOf = (device: string, seq: number): number =>
    batch.get(`${device}:${seq}`)?.e.lamport ?? tx.getEvent(device, seq)!.lamport;
  const cursors = [...fresh.entries()].map(([device, q]) => ({ device, q, i: 0 }));
  let added = 0;
  for (let progress = true; progress; ) {
    progress = false;
    for (const c of cursors) {
      for (; c.i < c.q.length; c.i++) {
        const e = c.q[c.i];
        if (!depsMet(e.deps, clock)) break;
        for (const d in e.deps) {
          if (e.lamport <= lamportOf(d, e.deps[d])) {
            throw new WalletError(
              "import-bad-lamport",
              `${dotName(e)} has lamport ${e.lamport}, not above its dependency ${d}:${e.deps[d]}`,
              { device: e.device, seq: e.seq },
            );
          }
        }
        try {
          tx.appendRemote(e, batch.get(dotName(e))!.hash);
        } catch (err) {
          throw namingDot(err, e);
        }
        clock[e.device] = e.seq;
        added++;
        progress = true;
      }
    }
  }
  for (const c of cursors) {
    if (c.i < c.q.length) {
      const e = c.q[c.i];
      const missing = Object.entries(e.deps).find(([d, s]) => (clock[d] ?? 0) < s)!;
      throw new WalletError(
        "import-missing-deps",
        `${dotName(e)} depends on ${missing[0]}:${missing[1]}, which is neither in this wallet nor in the batch`,
        { device: e.device, seq: e.seq, missing: { device: missing[0], seq: missing[1] } },
      );
    }
  }
  return { added, known };
}

/** A refusal raised while applying an event, reworded to name the event it refused. */
function namingDot(err: unknown, e: SharedEvent): unknown {
  if (!(err instanceof WalletError) || err.message.includes(dotName(e))) return err;
  return new WalletError(err.code, `event ${dotName(e)} (${e.type}): ${err.message}`, { ...err.details, device: e.device, seq: e.seq });
}

function depsMet(deps: VectorClock, clock: VectorClock): boolean {
  for (const d in deps) if ((clock[d] ?? 0) < deps[d]) return false;
  return true;
}

function equivocation(e: SharedEvent): WalletError {
  return new WalletError(
    "import-equivocation",
    `two different events claim the dot ${dotName(e)}`,
    { device: e.device, seq: e.seq },
  );
}

/**
 * Shared events not covered by `since`, in a causal order: sorted by
 * (lamport, device), which extends causality because an event's lamport
 * exceeds those of all its dependencies (checked on import).
 */
export function exportFrom(store: Store, since: VectorClock = {}): SharedEvent[] {
  const out: SharedEvent[] = [];
  for (const [device, seq] of Object.entries(store.clock())) {
    const from = (since[device] ?? 0) + 1;
    if (from > seq) continue;
    for (const e of store.rangeOfDevice(device, from, seq)) out.push(e);
  }
  return out.sort((a, b) => a.lamport - b.lamport || (a.device < b.device ? -1 : a.device > b.device ? 1 : a.seq - b.seq));
}

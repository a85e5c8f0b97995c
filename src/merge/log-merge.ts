// Importing a remote log is set union with causal delivery; exporting gives
// another replica what it lacks, in a causal order.
//
// Import is all or nothing: it runs inside one write transaction and throws
// before (or while) writing on the first problem, which rolls everything back.
//
// An event already held costs one comparison: its JSON text against the
// stored bytes (its canonical JSON, which is what its hash was taken of).
// Equal bytes are the same event, so it needs no validation, no hashing and no
// writing; different bytes under one dot are an equivocation.
import { thrownText, WalletError } from "../errors.ts";
import { dotName, seqOf, type VectorClock } from "../events/clock.ts";
import { validateSharedEvent, type SharedEvent } from "../events/envelope.ts";
import { canonicalEventText, encodeEvent, type EncodedEvent } from "../events/event-codec.ts";
import type { Store, WriteTxn } from "../events/store.ts";

export interface ImportResult {
  /** Events new to this wallet, now applied. */
  added: number;
  /** Events this wallet already had (or that appeared twice in the batch). */
  known: number;
}

type Fresh = { e: SharedEvent; enc: EncodedEvent };

/**
 * One device's new events. A log exported by a peer lists each device's
 * events in ascending seq order, so they are kept as that list, found by
 * position; only a batch out of order gets a map by seq (a repeat is found
 * in the list and counted as known before it could be added).
 * (A map per device was 3% of a 100k import: 100k entries grown and probed.)
 */
interface FreshQueue {
  list: Fresh[];
  bySeq?: Map<number, Fresh>;
}

function freshIn(q: FreshQueue, seq: number): Fresh | undefined {
  if (q.bySeq) return q.bySeq.get(seq);
  const list = q.list;
  // Ascending: a dense run is found at its offset, anything else by bisection.
  const at = seq - list[0].e.seq;
  if (at >= 0 && at < list.length && list[at].e.seq === seq) return list[at];
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = list[mid].e.seq;
    if (m === seq) return list[mid];
    if (m < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function addFresh(q: FreshQueue, f: Fresh): void {
  if (!q.bySeq && f.e.seq > q.list[q.list.length - 1].e.seq) {
    q.list.push(f);
    return;
  }
  if (!q.bySeq) q.bySeq = new Map(q.list.map((x) => [x.e.seq, x]));
  q.list.push(f);
  q.bySeq.set(f.e.seq, f);
}

/** Merges `raw` into the wallet inside `tx`. Throws WalletError (and so writes nothing) on any bad event. */
export function importInto(tx: WriteTxn, raw: unknown): ImportResult {
  if (!Array.isArray(raw)) throw new WalletError("request-invalid", "importEvents expects an array of events");
  // New events by device, then by seq: no dot strings built per event.
  const fresh = new Map<string, FreshQueue>();
  const freshOf = (device: string, seq: number) => {
    const q = fresh.get(device);
    return q && freshIn(q, seq);
  };
  let known = 0;
  const base = tx.baseFrontier();

  for (let i = 0; i < raw.length; i++) {
    const r = raw[i] as { device?: unknown; seq?: unknown } | null;
    // The claimed dot, read from the host's object: a read that throws leaves it to validation to refuse.
    let device: unknown, seq: unknown;
    try {
      if (typeof r === "object" && r !== null) ({ device, seq } = r);
    } catch {
      device = undefined;
    }
    const h = typeof device === "string" ? tx.head(device) : undefined;
    if (h && typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 1 && seq <= h.seq) {
      if (!isHeld(tx, r as SharedEvent, i, seqOf(base, device as string))) throw equivocation(validateSharedEvent(raw[i], "events", i));
      known++;
      continue;
    }
    const e = validateSharedEvent(raw[i], "events", i);
    const enc = encodeEvent(e);
    const q = fresh.get(e.device);
    const twin = q && freshIn(q, e.seq);
    if (twin) {
      if (twin.enc.text !== enc.text) throw equivocation(e);
      known++;
      continue;
    }
    if (e.device === tx.deviceId) {
      throw new WalletError("import-own-device", `${dotName(e)} claims to be authored by this device, which never wrote it`, { device: e.device, seq: e.seq });
    }
    if (q) addFresh(q, { e, enc });
    else fresh.set(e.device, { list: [{ e, enc }] });
  }

  // Each device's new events must continue its chain densely from what we hold.
  const queues = new Map<string, Fresh[]>();
  for (const [device, q] of fresh) {
    const sorted = q.bySeq ? q.list.sort((a, b) => a.e.seq - b.e.seq) : q.list;
    queues.set(device, sorted);
    const head = tx.head(device);
    let expectSeq = (head?.seq ?? 0) + 1;
    let expectPrev = head?.hash;
    for (const { e, enc } of sorted) {
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
      expectPrev = enc.hash;
    }
  }

  // Causal delivery: apply an event once everything in its deps is present.
  const clock: VectorClock = tx.clock();
  const heldLamports = new Map<string, Map<number, number>>();
  /** The lamport of a dependency; 0 for one folded into the base and not held (it cannot be checked). */
  const lamportOf = (device: string, seq: number): number => {
    const f = freshOf(device, seq);
    if (f) return f.e.lamport;
    let m = heldLamports.get(device);
    if (!m) heldLamports.set(device, (m = new Map()));
    let l = m.get(seq);
    if (l === undefined) {
      l = seq === tx.head(device)?.seq ? tx.head(device)!.lamport : (tx.getEvent(device, seq)?.lamport ?? 0);
      m.set(seq, l);
    }
    return l;
  };
  const cursors = [...queues.entries()].map(([device, q]) => ({ device, q, i: 0 }));
  let added = 0;
  for (let progress = true; progress; ) {
    progress = false;
    for (const c of cursors) {
      for (; c.i < c.q.length; c.i++) {
        const { e, enc } = c.q[c.i];
        if (!depsMet(e.deps, clock)) break;
        for (const d in e.deps) {
          if (e.lamport <= lamportOf(d, e.deps[d])) {
            throw new WalletError("import-bad-lamport", `${dotName(e)} has lamport ${e.lamport}, not above its dependency ${d}:${e.deps[d]}`, {
              device: e.device,
              seq: e.seq,
            });
          }
        }
        try {
          tx.appendRemote(e, enc);
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
      const { e } = c.q[c.i];
      const missing = Object.entries(e.deps).find(([d, s]) => seqOf(clock, d) < s)!;
      throw new WalletError(
        "import-missing-deps",
        `${dotName(e)} depends on ${missing[0]}:${missing[1]}, which is neither in this wallet nor in the batch`,
        { device: e.device, seq: e.seq, missing: { device: missing[0], seq: missing[1] } },
      );
    }
  }
  return { added, known };
}

/**
 * Whether an incoming event under a dot at or below its device's head is the
 * one held there. Events folded into the base and no longer held are known,
 * but cannot be compared.
 */
function isHeld(tx: WriteTxn, e: SharedEvent, i: number, baseSeq: number): boolean {
  // Events as exported are parsed canonical JSON, so their native JSON text is
  // the stored bytes; any other key order takes the canonical encoding.
  let text: string | undefined;
  try {
    text = JSON.stringify(e);
  } catch {
    // (a BigInt or a cycle: the canonical encoding refuses it below)
  }
  let c = text === undefined ? undefined : tx.compareHeld(e.device, e.seq, text);
  if (c === "different" || c === undefined) {
    const canonical = canonicalText(e, i);
    if (canonical !== text) c = tx.compareHeld(e.device, e.seq, canonical);
  }
  if (c === "absent") {
    if (e.seq <= baseSeq) return true;
    throw new WalletError("store-corrupt", `the wallet store lacks ${e.device}:${e.seq}, below its head`, { device: e.device, seq: e.seq });
  }
  return c === "same";
}

/** The canonical text of an incoming event, or an event-invalid refusal when it has none. */
function canonicalText(e: SharedEvent, i: number): string {
  try {
    return canonicalEventText(e);
  } catch (err) {
    if (err instanceof WalletError) throw new WalletError("event-invalid", `events[${i}]: ${err.message}`, err.details);
    // A getter or Proxy trap of the host's object threw.
    throw new WalletError("event-invalid", `events[${i}] could not be read: ${thrownText(err)}`);
  }
}

/** A refusal raised while applying an event, reworded to name the event it refused. */
function namingDot(err: unknown, e: SharedEvent): unknown {
  if (!(err instanceof WalletError) || err.message.includes(dotName(e))) return err;
  return new WalletError(err.code, `event ${dotName(e)} (${e.type}): ${err.message}`, { ...err.details, device: e.device, seq: e.seq });
}

// for-in, not Object.keys: no key array per event. `deps` is a validated plain object (own keys only).
function depsMet(deps: VectorClock, clock: VectorClock): boolean {
  for (const d in deps) if (seqOf(clock, d) < deps[d]) return false;
  return true;
}

function equivocation(e: SharedEvent): WalletError {
  return new WalletError("import-equivocation", `two different events claim the dot ${dotName(e)}`, { device: e.device, seq: e.seq });
}

/**
 * Shared events not covered by `since`, in a causal order: sorted by
 * (lamport, device), which extends causality because an event's lamport
 * exceeds those of all its dependencies (checked on import). With `limit`,
 * the first `limit` of them: a prefix of that order is causally closed and
 * holds a prefix of each device's chain, so `since` moved up to its last
 * seq per device pages on exactly where it stopped. Devices are read
 * lazily, so a page costs its own events, not the whole log.
 */
export function exportFrom(store: Store, since: VectorClock = {}, limit = Infinity): SharedEvent[] {
  const clock = store.clock();
  const cursors: { device: string; it: Iterator<SharedEvent>; next: SharedEvent | undefined; expect: number; last: number }[] = [];
  try {
    for (const device of Object.keys(clock).sort()) {
      const from = seqOf(since, device) + 1;
      if (from > clock[device]) continue;
      const it = store.rangeOfDevice(device, from, clock[device])[Symbol.iterator]();
      const c = { device, it, next: undefined as SharedEvent | undefined, expect: from, last: clock[device] };
      cursors.push(c);
      advance(c);
    }
    const out: SharedEvent[] = [];
    while (out.length < limit) {
      let best: (typeof cursors)[number] | undefined;
      // Cursors are in device order and `<` keeps the first of equal lamports: (lamport, device) order.
      for (const c of cursors) if (c.next && (!best || c.next.lamport < best.next!.lamport)) best = c;
      if (!best) break;
      out.push(best.next!);
      advance(best);
    }
    return out;
  } finally {
    // Cursors stop at the page's end or at the head, before lmdb's range says done: an open range
    // keeps its read transaction, and with it a reader slot, past later commits (MDB_READERS_FULL).
    for (const c of cursors) c.it.return?.();
  }
}

/** The cursor's next event; a seq missing below the head was folded into the snapshot. */
function advance(c: { device: string; it: Iterator<SharedEvent>; next: SharedEvent | undefined; expect: number; last: number }): void {
  if (c.expect > c.last) {
    c.next = undefined;
    return;
  }
  const r = c.it.next();
  if (r.done || r.value.seq !== c.expect) {
    throw new WalletError("log-compacted", `${c.device}:${c.expect} is folded into this wallet's snapshot; exchange a backup instead of events`, {
      device: c.device,
      seq: c.expect,
    });
  }
  c.next = r.value;
  c.expect++;
}

// Projection records not yet written to LMDB. A request commits its events
// durably and its projection records here; they go to LMDB together, many
// requests at a time, at a checkpoint (store.ts). A durable commit then writes
// the log and its head, not a random coin leaf, the balance and their branch
// pages besides: projections are a cache of the fold, and what a crash loses
// of them is folded again from the log at the next open.
import { compareKeys, keyId, type Key } from "./records.ts";

/** A record's stored JSON text (codec.encode, stringified), or undefined for a removed record. */
export interface PendingRecord {
  key: Key;
  text: string | undefined;
}

export interface PendingRecords {
  readonly size: number;
  get(key: Key): PendingRecord | undefined;
  set(key: Key, text: string | undefined): void;
  /** Every record whose key extends `prefix` (all of them for []), in key order. */
  withPrefix(prefix: Key): PendingRecord[];
  values(): Iterable<PendingRecord>;
  /** Takes every record of `newer` over this one's. */
  adopt(newer: PendingRecords): void;
  clear(): void;
}

export function pendingRecords(): PendingRecords {
  // By table, then by the whole key: a range only looks at its own table.
  const byTable = new Map<string, Map<string, PendingRecord>>();
  let size = 0;
  const self: PendingRecords = {
    get size() {
      return size;
    },
    get(key) {
      return byTable.get(key[0] as string)?.get(keyId(key));
    },
    set(key, text) {
      let t = byTable.get(key[0] as string);
      if (!t) byTable.set(key[0] as string, (t = new Map()));
      const id = keyId(key);
      if (!t.has(id)) size++;
      t.set(id, { key, text });
    },
    withPrefix(prefix) {
      const tables = prefix.length === 0 ? [...byTable.values()] : [byTable.get(prefix[0] as string)].filter((t) => t !== undefined);
      const out: PendingRecord[] = [];
      for (const t of tables) {
        for (const r of t.values()) if (r.key.length > prefix.length && prefix.every((p, i) => r.key[i] === p)) out.push(r);
      }
      return out.sort((a, b) => compareKeys(a.key, b.key));
    },
    *values() {
      for (const t of byTable.values()) yield* t.values();
    },
    adopt(newer) {
      for (const r of newer.values()) self.set(r.key, r.text);
    },
    clear() {
      byTable.clear();
      size = 0;
    },
  };
  return self;
}

/**
 * The records of `stored` (in key order) with `over` laid on top: an entry of
 * `over` replaces the stored record of its key, or removes it.
 */
export function* layered<V>(stored: Iterable<{ key: Key; value: V }>, over: PendingRecord[], decode: (r: PendingRecord) => V): Iterable<{ key: Key; value: V }> {
  if (over.length === 0) {
    yield* stored;
    return;
  }
  // Replaced by identity, not by position: should compareKeys ever disagree with LMDB's order,
  // a record could be misplaced, but never yielded stale beside its replacement.
  const replaced = new Set(over.map((r) => keyId(r.key)));
  let i = 0;
  for (const s of stored) {
    while (i < over.length && compareKeys(over[i].key, s.key) <= 0) {
      const r = over[i++];
      if (r.text !== undefined) yield { key: r.key, value: decode(r) };
    }
    if (!replaced.has(keyId(s.key))) yield s;
  }
  for (; i < over.length; i++) if (over[i].text !== undefined) yield { key: over[i].key, value: decode(over[i]) };
}

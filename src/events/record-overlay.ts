// The per-transaction overlay of projection records. Reducers read and write
// records many times per transaction (a withdrawal of ten coins touches its
// exchange's balance ten times); the overlay decodes each record once, hands
// out the same live object to every reader, and encodes and writes each dirty
// record once, at the end. It also remembers what the tracked records were
// before the transaction, so the engine can say what changed after the commit.
import { keyId, type Key, type RecordChange, type Records } from "./records.ts";

/** What the overlay needs of the persistent table under it (values decoded). */
export interface RecordTable {
  get(key: Key): unknown;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  range(prefix: Key): Iterable<{ key: Key; value: unknown }>;
}

interface Slot {
  key: Key;
  value: unknown;
  dirty: boolean;
}

export interface Overlay {
  readonly records: Records;
  /** Writes every dirty record to the table (still inside the transaction) and forgets the clean ones. */
  flush(): void;
  /** Changed records of the tracked tables, before and after (call after the last flush). */
  changes(): RecordChange[];
  /**
   * Before a refold that rewrites the table around the overlay (a snapshot adopted): keeps every
   * tracked record as it is now, and has changes() look at every tracked record at the end.
   */
  trackWholeTables(): void;
}

/**
 * `tracked`: first key parts whose before-values are kept for change
 * reporting (small tables: exchanges, balances). `flushAt` bounds the
 * overlay's memory in huge transactions (an import of a whole log).
 */
export function createOverlay(table: RecordTable, tracked: ReadonlySet<string>, flushAt = 50_000): Overlay {
  // Slots by table, then by the rest of the key: for the common two-part keys the second part is used
  // as it is, so no key string is built per access (a concatenated key costs more than the lookup).
  const slots = new Map<string, Map<string, Slot>>();
  let count = 0;
  const before = new Map<string, { key: Key; value: unknown }>();
  let wholeTables = false;

  const tableOf = (key: Key): Map<string, Slot> => {
    let t = slots.get(key[0] as string);
    if (!t) slots.set(key[0] as string, (t = new Map()));
    return t;
  };
  const restId = (key: Key): string => (key.length === 2 ? String(key[1]) : keyId(key.slice(1)));

  const track = (key: Key, value: unknown) => {
    if (!tracked.has(key[0] as string)) return;
    const id = keyId(key);
    if (before.has(id)) return;
    // After a refold (trackWholeTables) every record the transaction started with is in `before`: one not
    // there did not exist then, whatever the refold made of it since.
    if (wholeTables) before.set(id, { key, value: undefined });
    // A second decode: the live value is changed in place by reducers, the before-value must not be.
    else before.set(id, { key, value: value === undefined ? undefined : table.get(key) });
  };

  const slotOf = (key: Key): Slot => {
    const t = tableOf(key);
    const id = restId(key);
    let s = t.get(id);
    if (!s) {
      const value = table.get(key);
      s = { key, value, dirty: false };
      t.set(id, s);
      count++;
      track(key, value);
    }
    return s;
  };

  function flush() {
    for (const t of slots.values()) {
      for (const s of t.values()) {
        if (!s.dirty) continue;
        if (s.value === undefined) table.remove(s.key);
        else table.put(s.key, s.value);
      }
    }
    slots.clear();
    count = 0;
  }

  const write = (key: Key, value: unknown) => {
    const t = tableOf(key);
    const id = restId(key);
    const s = t.get(id);
    if (s) {
      s.value = value;
      s.dirty = true;
      return;
    }
    // A record written without being read first (an index entry) needs no read of what it replaces,
    // unless its table is tracked.
    track(key, tracked.has(key[0] as string) ? table.get(key) : undefined);
    t.set(id, { key, value, dirty: true });
    if (++count > flushAt) flush();
  };

  const records: Records = {
    get: <T>(key: Key) => slotOf(key).value as T | undefined,
    put: write,
    remove: (key) => write(key, undefined),
    *entries<T>(prefix: Key) {
      // Ranges are rare inside a transaction (purges): reading them from the table after a flush keeps order and contents exact.
      flush();
      for (const { key, value } of table.range(prefix)) yield { key, value: value as T };
    },
  };

  return {
    records,
    flush,
    trackWholeTables() {
      flush();
      // A second refold in the transaction (two snapshots adopted): the start's records are kept already.
      if (wholeTables) return;
      for (const t of tracked) {
        for (const { key, value } of table.range([t])) {
          const id = keyId(key);
          if (!before.has(id)) before.set(id, { key, value });
        }
      }
      wholeTables = true;
    },
    changes() {
      if (wholeTables) {
        // Records the refold created were never read through the overlay: they were absent before.
        for (const t of tracked) {
          for (const { key } of table.range([t])) {
            const id = keyId(key);
            if (!before.has(id)) before.set(id, { key, value: undefined });
          }
        }
      }
      const out: RecordChange[] = [];
      for (const { key, value } of before.values()) {
        const after = table.get(key);
        if (after !== undefined || value !== undefined) out.push({ key, before: value, after });
      }
      return out;
    },
  };
}

// The per-transaction overlay of projection records. Reducers read and write
// records many times per transaction (a withdrawal of ten coins touches its
// exchange's balance ten times); the overlay decodes each record once, lets
// reads see earlier writes, and writes each dirty record once, at the end.
// It also remembers what a record was before the transaction, so the engine
// can say what changed (notifications) after the commit.
import type { Key, RecordChange, Records } from "./records.ts";

/** What the overlay needs of the persistent table under it. */
export interface RecordTable {
  get(key: Key): unknown;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  range(prefix: Key): Iterable<{ key: Key; value: unknown }>;
}

interface Slot {
  key: Key;
  before: unknown;
  after: unknown;
  dirty: boolean;
}

/** Flushing bounds the overlay's memory in huge transactions (imports of a whole log). */
const FLUSH_AT = 50_000;

const slotId = (key: Key): string => JSON.stringify(key);

export interface Overlay {
  readonly records: Records;
  /** Writes every dirty record to the table (still inside the transaction). */
  flush(): void;
  /** Changed records of the tracked tables, before and after (call after the last flush). */
  changes(): RecordChange[];
}

/**
 * `tracked`: first key parts whose before/after values outlive a flush, for
 * change reporting (the small tables: exchanges, balances). Others are
 * dropped from memory once flushed.
 */
export function createOverlay(table: RecordTable, tracked: ReadonlySet<string>): Overlay {
  const slots = new Map<string, Slot>();
  const changed = new Map<string, { key: Key; before: unknown }>();

  const slotOf = (key: Key): Slot => {
    const id = slotId(key);
    let s = slots.get(id);
    if (!s) {
      const v = table.get(key);
      s = { key, before: v, after: v, dirty: false };
      slots.set(id, s);
    }
    return s;
  };

  function flush() {
    for (const [id, s] of slots) {
      if (s.dirty) {
        if (s.after === undefined) table.remove(s.key);
        else table.put(s.key, s.after);
        if (tracked.has(String(s.key[0])) && !changed.has(id)) changed.set(id, { key: s.key, before: s.before });
      }
    }
    slots.clear();
  }

  const write = (key: Key, value: unknown) => {
    const s = slotOf(key);
    s.after = value;
    s.dirty = true;
    if (slots.size > FLUSH_AT) flush();
  };

  const records: Records = {
    get: <T>(key: Key) => slotOf(key).after as T | undefined,
    put: write,
    remove: (key) => write(key, undefined),
    *entries<T>(prefix: Key) {
      // Ranges are rare inside a transaction (purges); reading them through the table after a flush keeps order and contents exact.
      flush();
      for (const { key, value } of table.range(prefix)) yield { key, value: value as T };
    },
  };

  return {
    records,
    flush,
    changes() {
      const out: RecordChange[] = [];
      for (const { key, before } of changed.values()) {
        const after = table.get(key);
        if (after !== before) out.push({ key, before, after });
      }
      return out;
    },
  };
}

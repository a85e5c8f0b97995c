// Projection records: the keyed state reducers fold events into. The store
// keeps them in LMDB; decider specs and tests keep them in memory. Reducers
// and deciders see only this interface, never the store behind it.
import type { LocalEvent, SharedEvent } from "./envelope.ts";

export type Key = (string | number)[];

/** Keyed access to projection records, inside a write transaction or for reading. */
export interface Records {
  get<T>(key: Key): T | undefined;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  /** Entries whose key starts with `prefix` (followed by string parts), in key order. */
  entries<T>(prefix: Key): Iterable<{ key: Key; value: T }>;
}

/** One record a transaction changed: its value before and after (undefined = absent). */
export interface RecordChange {
  key: Key;
  before: unknown;
  after: unknown;
}

/** A projection folds events into records. Both folds must be deterministic functions of their input. */
export interface Projection {
  readonly name: string;
  evolveShared?(records: Records, e: SharedEvent): void;
  evolveLocal?(records: Records, e: LocalEvent): void;
}

/** Key order of the store: part by part, numbers before strings, strings by code unit. */
export function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Records held in memory: what decider specs and reducer tests fold events into. */
export function memoryRecords(): Records & { dump(): { key: Key; value: unknown }[] } {
  const map = new Map<string, { key: Key; value: unknown }>();
  const id = (k: Key) => JSON.stringify(k);
  const sorted = () => [...map.values()].sort((a, b) => compareKeys(a.key, b.key));
  return {
    get: <T>(key: Key) => map.get(id(key))?.value as T | undefined,
    put: (key, value) => void map.set(id(key), { key, value }),
    remove: (key) => void map.delete(id(key)),
    *entries<T>(prefix: Key) {
      for (const e of sorted()) {
        if (prefix.every((p, i) => e.key[i] === p) && e.key.length > prefix.length) yield { key: e.key, value: e.value as T };
      }
    },
    dump: sorted,
  };
}

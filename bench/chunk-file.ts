// Histories are written once to files of JSON lines, one chunk (an array of
// drafts or events) per line, and read back a chunk at a time: a case holds one
// chunk in memory, not a million events, and ours and the raw ceiling read the
// very same payloads. Reading is timed separately so cases can leave it out.
import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** Writes each chunk as one JSON line; returns the number of items written. */
export function writeChunks(path: string, chunks: Iterable<unknown[]>): number {
  const fd = openSync(path, "w");
  let count = 0;
  try {
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      writeSync(fd, `${JSON.stringify(chunk)}\n`);
      count += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return count;
}

/** Milliseconds spent reading and parsing so far, per reader. */
export interface ReadClock {
  ms: number;
}

/** The chunks of `path`, in order. Time spent inside the reader is added to `clock`. */
export function* readChunks<T>(path: string, clock: ReadClock = { ms: 0 }): Generator<T[]> {
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(1 << 22);
  let pending: Buffer[] = [];
  try {
    for (;;) {
      const t0 = process.hrtime.bigint();
      const n = readSync(fd, buf, 0, buf.length, null);
      const lines: T[][] = [];
      let start = 0;
      for (let i = buf.indexOf(10, 0); i !== -1 && i < n; i = buf.indexOf(10, start)) {
        pending.push(buf.subarray(start, i));
        lines.push(JSON.parse(Buffer.concat(pending).toString("utf8")) as T[]);
        pending = [];
        start = i + 1;
      }
      if (start < n) pending.push(Buffer.from(buf.subarray(start, n)));
      clock.ms += Number(process.hrtime.bigint() - t0) / 1e6;
      yield* lines;
      if (n === 0) break;
    }
  } finally {
    closeSync(fd);
  }
  if (pending.length > 0) throw new Error(`${path}: the last line is not terminated`);
}

/** Every item of `path` in one array (for inputs that must be whole, such as an import batch). */
export function readAll<T>(path: string, clock?: ReadClock): T[] {
  const out: T[] = [];
  for (const chunk of readChunks<T>(path, clock)) for (const x of chunk) out.push(x);
  return out;
}

/** Regroups a stream of items into chunks of `size`. */
export function* rechunk<T>(chunks: Iterable<T[]>, size: number): Generator<T[]> {
  let cur: T[] = [];
  for (const chunk of chunks) {
    for (const x of chunk) {
      cur.push(x);
      if (cur.length === size) {
        yield cur;
        cur = [];
      }
    }
  }
  if (cur.length > 0) yield cur;
}

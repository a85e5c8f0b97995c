// The event log inside a backup, compact and still canonical JSON.
//
//   log: {
//     devices: ["devA", "devB"],            every device the log names, sorted
//     types:   ["exchange-added", …],       event types, in order of first use
//     chains:  [{ device: 0,                one per authoring device, in device order
//                 seq: 1, count: 3,         its events seq … seq + count − 1
//                 type:    [0, 1, 1],       per event: index into types
//                 lamport: [1, 1, 4],       per event: lamport minus the previous one's
//                 time:    [1700…, 0, 12],  per event: time minus the previous one's
//                 deps:    [2, 1, 5] }],    changes of the deps on other devices: (events since
//                                           the last change, device index, seq; 0 drops it)
//     data:    [[…path entries…], …]        per type: its payloads as columns (json-columns.ts)
//   }
//
// What is left out is what the rest determines: an event's `prev` is the hash
// of the event before it, and its own entry in `deps` is seq − 1. Decoding
// recomputes both, so each event comes back byte for byte, with its hash.
// Those two fields are most of an event's incompressible bytes (a 64-byte
// hash each); the rest shrinks because each column holds one kind of value.
import { WalletError } from "../errors.ts";
import { isDeviceId, seqOf, type VectorClock } from "../events/clock.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { encodeEvent } from "../events/event-codec.ts";
import {
  checkArray,
  checkInts,
  createColumnDecoder,
  createColumnEncoder,
  logInvalid,
  MAX_COLUMN_LENGTH,
  prefixSums,
  type ColumnCursor,
  type ColumnDecoder,
  type ColumnEncoder,
  type PathEntry,
} from "./json-columns.ts";
import type { StringTable } from "./string-table.ts";

export interface EncodedChain {
  device: number;
  seq: number;
  count: number;
  type: number[];
  lamport: number[];
  time: number[];
  deps: number[];
}

export interface EncodedLog {
  devices: string[];
  types: string[];
  chains: EncodedChain[];
  data: PathEntry[][];
}

export interface LogEncoder {
  /** Adds one device's events, dense and in seq order; devices must come in ascending order. */
  addChain(device: string, events: Iterable<WalletEvent>): void;
  finish(table: StringTable): EncodedLog;
}

function bug(message: string): never {
  throw new WalletError("internal-error", `backup log encoder: ${message}`);
}

export function createLogEncoder(): LogEncoder {
  const types = new Map<string, { index: number; columns: ColumnEncoder }>();
  const chains: (Omit<EncodedChain, "device" | "deps"> & { device: string; deps: (number | string)[] })[] = [];
  const named = new Set<string>();

  return {
    addChain(device, events) {
      const last = chains[chains.length - 1];
      if (last && !(last.device < device)) bug(`chains must come in ascending device order (${device} after ${last.device})`);
      named.add(device);
      const chain = { device, seq: 0, count: 0, type: [] as number[], lamport: [] as number[], time: [] as number[], deps: [] as (number | string)[] };
      let lamport = 0;
      let time = 0;
      let lastChange = 0;
      const others = new Map<string, number>();
      for (const e of events) {
        if (e.device !== device) bug(`event ${e.device}:${e.seq} in the chain of ${device}`);
        if (chain.count === 0) chain.seq = e.seq;
        else if (e.seq !== chain.seq + chain.count) bug(`${device}:${e.seq} does not follow ${device}:${chain.seq + chain.count - 1}`);
        const k = chain.count++;
        let t = types.get(e.type);
        if (!t) types.set(e.type, (t = { index: types.size, columns: createColumnEncoder() }));
        chain.type.push(t.index);
        t.columns.add(e.data);
        chain.lamport.push(e.lamport - lamport);
        lamport = e.lamport;
        chain.time.push(e.time - time);
        time = e.time;
        if (seqOf(e.deps, device) !== e.seq - 1) bug(`${device}:${e.seq} has deps without its own previous seq`);
        let n = 0;
        for (const d of Object.keys(e.deps)) {
          if (d === device) continue;
          n++;
          const s = e.deps[d];
          if (others.get(d) !== s) {
            chain.deps.push(k - lastChange, d, s);
            lastChange = k;
            others.set(d, s);
            named.add(d);
          }
        }
        if (n !== others.size) {
          for (const d of [...others.keys()]) {
            if (!Object.prototype.hasOwnProperty.call(e.deps, d)) {
              chain.deps.push(k - lastChange, d, 0);
              lastChange = k;
              others.delete(d);
            }
          }
        }
      }
      if (chain.count > 0) chains.push(chain);
    },

    finish(table) {
      const devices = [...named].sort();
      const index = new Map(devices.map((d, i) => [d, i]));
      const typeList = [...types.keys()];
      return {
        devices,
        types: typeList,
        chains: chains.map((c) => ({
          device: index.get(c.device)!,
          seq: c.seq,
          count: c.count,
          type: c.type,
          lamport: c.lamport,
          time: c.time,
          deps: c.deps.map((x, i) => (i % 3 === 1 ? index.get(x as string)! : (x as number))),
        })),
        data: typeList.map((t) => types.get(t)!.columns.finish(table)),
      };
    },
  };
}

// ---------------------------------------------------------------- decoding

export interface DecodedChain {
  device: string;
  /** First seq held; the events are seq … seq + count − 1. */
  seq: number;
  count: number;
}

export interface DecodedLog {
  readonly count: number;
  readonly chains: readonly DecodedChain[];
  /** Device → the last seq the log holds of it. */
  readonly clock: VectorClock;
  /**
   * Every event in a causal order (by lamport, then device), each rebuilt with
   * its `prev` and its own entry in `deps`. Lazy: payloads are built as they
   * are reached, so an import can take them a chunk at a time.
   */
  events(): Iterable<WalletEvent>;
}

interface ChainState {
  device: string;
  deviceIndex: number;
  seq: number;
  count: number;
  type: Int32Array;
  lamport: Float64Array;
  time: Float64Array;
  deps: number[];
  /** The hash the first event's `prev` names (seq > 1 only). */
  startPrev: string | undefined;
  /** Per type, where this chain's payloads start. */
  cursors: ColumnCursor[];
}

const LOG_FIELDS = ["chains", "data", "devices", "types"];
const CHAIN_FIELDS = ["count", "deps", "device", "lamport", "seq", "time", "type"];

function checkFields(o: unknown, fields: string[], what: string): Record<string, unknown> {
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw logInvalid(`${what} is not an object`);
  const proto = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) throw logInvalid(`${what} is not a plain object`);
  const keys = Object.keys(o);
  for (const k of keys) if (!fields.includes(k)) throw logInvalid(`${what} has an unknown field ${JSON.stringify(k)}`);
  for (const f of fields) if (!Object.prototype.hasOwnProperty.call(o, f)) throw logInvalid(`${what}.${f} is missing`);
  return o as Record<string, unknown>;
}

export interface DecodeLogOptions {
  /**
   * For a tail above a snapshot: the hash of each device's event just below
   * its chain (the snapshot's heads), which the chain's first `prev` names.
   */
  heads?: ReadonlyMap<string, string>;
}

/**
 * Reads an encoded log: checks every column against the others (lengths,
 * indices, each payload column consumed exactly) before anything is built.
 * Throws backup-log-invalid; never throws anything else for bad input.
 */
/**
 * Devices one log may name: far more than one person's devices over a wallet's life. Each event is
 * rebuilt with its deps in full, so a log naming thousands (cheap in the blob, delta-encoded) would cost
 * events × devices before its first event could be checked.
 */
export const MAX_LOG_DEVICES = 1024;
/** Each device's chain keeps a cursor per payload column: their product bounds that memory (32 MiB of Int32). */
const MAX_CHAIN_CURSORS = 8 * 2 ** 20;

const tooLarge = (why: string) => new WalletError("backup-too-large", `the backup's log is too large to decode: ${why}`);

export function decodeLog(raw: unknown, strings: readonly string[], opts: DecodeLogOptions = {}): DecodedLog {
  const log = checkFields(raw, LOG_FIELDS, "log");
  const devices = checkArray(log.devices, "log.devices");
  if (devices.length > MAX_LOG_DEVICES) throw tooLarge(`it names ${devices.length} devices, more than ${MAX_LOG_DEVICES}`);
  for (let i = 0; i < devices.length; i++) {
    if (!isDeviceId(devices[i])) throw logInvalid(`log.devices[${i}] is not a device id`);
    if (i > 0 && !((devices[i - 1] as string) < (devices[i] as string))) throw logInvalid("log.devices is not strictly sorted");
  }
  const types = checkArray(log.types, "log.types");
  const seenTypes = new Set<string>();
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (typeof t !== "string" || t === "" || seenTypes.has(t)) throw logInvalid(`log.types[${i}] is not a new event type name`);
    seenTypes.add(t);
  }
  const data = checkArray(log.data, "log.data");
  if (data.length !== types.length) throw logInvalid(`log.data has ${data.length} column sets for ${types.length} types`);
  const decoders: ColumnDecoder[] = data.map((d, i) => createColumnDecoder(d, strings, `log.data[${i}]`));

  const rawChains = checkArray(log.chains, "log.chains");
  const running = decoders.map((d) => d.start());
  const cursorsPerChain = running.reduce((n, r) => n + r.length, 0);
  if (rawChains.length * cursorsPerChain > MAX_CHAIN_CURSORS) {
    throw tooLarge(`${rawChains.length} device chains × ${cursorsPerChain} payload columns`);
  }
  const chains: ChainState[] = [];
  let total = 0;
  for (let c = 0; c < rawChains.length; c++) {
    const at = `log.chains[${c}]`;
    const ch = checkFields(rawChains[c], CHAIN_FIELDS, at);
    const di = ch.device;
    if (typeof di !== "number" || !Number.isSafeInteger(di) || di < 0 || di >= devices.length) throw logInvalid(`${at}.device is not an index into log.devices`);
    if (c > 0 && chains[c - 1].deviceIndex >= di) throw logInvalid("log.chains are not in strictly ascending device order");
    const seq = ch.seq;
    const count = ch.count;
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) throw logInvalid(`${at}.seq is not a positive integer`);
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 1 || count > MAX_COLUMN_LENGTH) throw logInvalid(`${at}.count is not a positive integer`);
    if (!Number.isSafeInteger(seq + count)) throw logInvalid(`${at} runs past the largest seq`);
    const type = checkInts(ch.type, `${at}.type`, 0, types.length - 1);
    const lamportDeltas = checkInts(ch.lamport, `${at}.lamport`);
    const timeDeltas = checkInts(ch.time, `${at}.time`);
    for (const [name, col] of [["type", type], ["lamport", lamportDeltas], ["time", timeDeltas]] as const) {
      if (col.length !== count) throw logInvalid(`${at}.${name} has ${col.length} entries for ${count} events`);
    }
    const startPrev = seq > 1 ? opts.heads?.get(devices[di] as string) : undefined;
    if (seq > 1 && startPrev === undefined) throw logInvalid(`${at} starts at seq ${seq}, with nothing below it to continue`);
    const deps = checkInts(ch.deps, `${at}.deps`, 0);
    if (deps.length % 3 !== 0) throw logInvalid(`${at}.deps is not a list of (distance, device, seq) triples`);
    for (let i = 0, k = 0; i < deps.length; i += 3) {
      k += deps[i];
      if (k >= count) throw logInvalid(`${at}.deps changes event ${k} of ${count}`);
      if (deps[i + 1] >= devices.length || deps[i + 1] === di) throw logInvalid(`${at}.deps names device index ${deps[i + 1]}, not another device of log.devices`);
    }
    const state: ChainState = {
      device: devices[di] as string,
      deviceIndex: di,
      seq,
      count,
      type: Int32Array.from(type),
      lamport: prefixSums(lamportDeltas, `${at}.lamport`, 1),
      time: prefixSums(timeDeltas, `${at}.time`, 0),
      deps,
      startPrev,
      cursors: running.map((r) => r.slice()),
    };
    // Walk this chain's payloads once without building them: their columns must fit.
    for (let k = 0; k < count; k++) decoders[state.type[k]].skip(running[state.type[k]]);
    chains.push(state);
    total += count;
  }
  decoders.forEach((d, i) => d.checkConsumed(running[i]));

  const clock: VectorClock = {};
  for (const c of chains) clock[c.device] = c.seq + c.count - 1;

  return {
    count: total,
    chains: chains.map((c) => ({ device: c.device, seq: c.seq, count: c.count })),
    clock,
    events: () => causalEvents(chains, devices as string[], types as string[], decoders),
  };
}

/** One chain's events in seq order, rebuilt. */
function* chainEvents(c: ChainState, devices: string[], types: string[], decoders: ColumnDecoder[]): Generator<WalletEvent> {
  const cursors = c.cursors.map((x) => x.slice());
  // Other devices' entries of deps, as (device index, seq), kept sorted by index.
  let others: [number, number][] = [];
  let nextChange = 0;
  let changeAt = c.deps.length > 0 ? c.deps[0] : -1;
  let prev = c.startPrev;
  for (let k = 0; k < c.count; k++) {
    while (changeAt === k) {
      const d = c.deps[nextChange + 1];
      const s = c.deps[nextChange + 2];
      others = others.filter(([x]) => x !== d);
      if (s > 0) {
        others.push([d, s]);
        others.sort((a, b) => a[0] - b[0]);
      }
      nextChange += 3;
      changeAt = nextChange < c.deps.length ? changeAt + c.deps[nextChange] : -1;
    }
    const seq = c.seq + k;
    const deps: VectorClock = {};
    let ownDone = seq === 1;
    for (const [d, s] of others) {
      if (!ownDone && d > c.deviceIndex) {
        deps[c.device] = seq - 1;
        ownDone = true;
      }
      deps[devices[d]] = s;
    }
    if (!ownDone) deps[c.device] = seq - 1;
    const t = c.type[k];
    // Keys in canonical order, so the event encodes on the fast path.
    const e: WalletEvent = {
      data: decoders[t].read(cursors[t]),
      deps,
      device: c.device,
      lamport: c.lamport[k],
      ...(prev === undefined ? {} : { prev }),
      seq,
      time: c.time[k],
      type: types[t],
    };
    prev = encodeEvent(e).hash;
    yield e;
  }
}

/** Merges the chains by (lamport, device): a causal order, since every event's lamport exceeds its dependencies'. */
function* causalEvents(chains: ChainState[], devices: string[], types: string[], decoders: ColumnDecoder[]): Generator<WalletEvent> {
  const iters = chains.map((c) => chainEvents(c, devices, types, decoders));
  const pos = new Int32Array(chains.length);
  // A binary heap of chain indices, ordered by the lamport of each chain's next event, then by device.
  const heap: number[] = [];
  const less = (a: number, b: number) => {
    const la = chains[a].lamport[pos[a]];
    const lb = chains[b].lamport[pos[b]];
    return la < lb || (la === lb && a < b);
  };
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i], heap[p])) return;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let c = 0; c < chains.length; c++) {
    heap.push(c);
    up(heap.length - 1);
  }
  while (heap.length > 0) {
    const c = heap[0];
    yield iters[c].next().value as WalletEvent;
    pos[c]++;
    if (pos[c] < chains[c].count) down(0);
    else {
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        down(0);
      }
    }
  }
}

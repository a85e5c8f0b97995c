// A sequence of JSON values stored as columns, one entry per path: what a
// backup's log uses for event payloads. Values of one path (every coin's
// `value`, every spend's `coinPub`) sit next to each other, where gzip finds
// their regularities, and strings go through the content's string table, so
// a 52-character coin key is written once however many events name it.
//
// An entry describes one path (object keys, and 0 for "an item of an array"):
//
//   { path: ["coins", 0, "value"],     where in the value
//     kinds: "ppo…",                    only when nodes of several kinds meet here: p primitive, o object, a array
//     keys: [["a","b"], …], shape: […]  objects: their distinct key sets, and per object the index of its set
//     len: […],                         arrays: per array its length
//     val: [encoding, …] }              primitives (below)
//
// Primitive columns, picked per column by the encoder:
//
//   ["raw", values]                  anything (booleans, numbers mixed with strings)
//   ["int", ints] / ["intd", deltas]  integers, or their differences
//   ["str", indices] / ["strd", deltas]  strings, by index into the string table
//   ["dict", table indices, ids] / ["dictd", table indices, deltas of ids]
//                                    few distinct strings (amounts, URLs): a local list of
//                                    them, by string-table index, and per value its place there
//   ["sfx", prefixes, numbers] / ["sfxd", prefixes, deltas]
//                                    strings that are a prefix and a decimal number ("devA-s17")
//
// Measured on spends of a seeded history: amounts gzip to 1.6 bytes each as
// "dict" against 2.2 as "sfx"; spend ids to 0.1 as "sfxd" against 2 or more
// in the string table.
//
// Positional arrays: with `positions: K` (both sides must agree), item i of
// an array sits at path segment min(i, K) rather than 0, so the fields of a
// tuple (a record's compact form: [url, currency, value, …]) each get a
// column of their own, and items past the K-th share one. K = 0 is the
// plain form above (every item at 0), which the log uses.
//
// Decoding is exact (the same JSON values, hence the same canonical bytes)
// and bounded: every node read consumes an entry of some column, so work and
// memory are linear in the input, and every column must be consumed exactly.
import { WalletError } from "../errors.ts";
import type { StringTable } from "./string-table.ts";

export type Prim = string | number | boolean | null;
export type PathSegment = string | number;

export type PrimColumn =
  | ["raw", Prim[]]
  | ["int", number[]]
  | ["intd", number[]]
  | ["str", number[]]
  | ["strd", number[]]
  | ["dict", number[], number[]]
  | ["dictd", number[], number[]]
  | ["sfx", number[], number[]]
  | ["sfxd", number[], number[]];

export interface PathEntry {
  path: PathSegment[];
  kinds?: string;
  keys?: string[][];
  shape?: number[];
  len?: number[];
  val?: PrimColumn;
}

/** Paths deeper than this are refused (no event payload comes close; it bounds the decoder's recursion). */
export const MAX_PATH_DEPTH = 64;
/** No column may be longer (a content within the plain-size bound holds far fewer entries). */
export const MAX_COLUMN_LENGTH = 2 ** 30;

const P = 0;
const O = 1;
const A = 2;
const KIND_CHARS = "poa";

// ---------------------------------------------------------------- encoding

interface EncNode {
  path: PathSegment[];
  /** Kind of every node so far, materialized only once two kinds met here. */
  kinds: number[] | undefined;
  firstKind: number;
  count: number;
  vals: Prim[];
  keysets: string[][];
  keysetIds: Map<string, number>;
  lastKeys: string[] | undefined;
  lastKeysId: number;
  shape: number[];
  len: number[];
  children: Map<string, EncNode>;
  /** Item nodes by path segment (0 … positions). */
  items: EncNode[];
}

export interface ColumnEncoder {
  /** Appends one value (plain JSON: objects, arrays, strings, finite numbers, booleans, null). */
  add(value: unknown): void;
  /** The entries, in the order their paths first appeared; strings are interned into `table` in that order. */
  finish(table: StringTable): PathEntry[];
}

function notJson(what: string, path: PathSegment[]): WalletError {
  return new WalletError("encoding-not-json", `${what} at ${JSON.stringify(path)} has no JSON form`, { path });
}

export interface ColumnOptions {
  /** Arrays are positional up to this index (see above); 0 (the default) puts every item at 0. */
  positions?: number;
}

/** Where positional arrays stop: no record tuple comes close, and it bounds the paths per array. */
export const MAX_POSITIONS = 64;

function positionsOf(opts: ColumnOptions): number {
  const k = opts.positions ?? 0;
  if (!Number.isSafeInteger(k) || k < 0 || k > MAX_POSITIONS) throw new WalletError("backup-invalid-argument", `positions must be an integer in 0…${MAX_POSITIONS}`);
  return k;
}

export function createColumnEncoder(opts: ColumnOptions = {}): ColumnEncoder {
  const positions = positionsOf(opts);
  const nodes: EncNode[] = [];
  const node = (path: PathSegment[]): EncNode => {
    const n: EncNode = {
      path,
      kinds: undefined,
      firstKind: -1,
      count: 0,
      vals: [],
      keysets: [],
      keysetIds: new Map(),
      lastKeys: undefined,
      lastKeysId: -1,
      shape: [],
      len: [],
      children: new Map(),
      items: [],
    };
    nodes.push(n);
    return n;
  };
  const root = node([]);

  const noteKind = (n: EncNode, kind: number) => {
    if (n.kinds) n.kinds.push(kind);
    else if (n.count === 0) n.firstKind = kind;
    else if (kind !== n.firstKind) {
      n.kinds = new Array<number>(n.count).fill(n.firstKind);
      n.kinds.push(kind);
    }
    n.count++;
  };

  const keysetId = (n: EncNode, keys: string[]): number => {
    const last = n.lastKeys;
    if (last && last.length === keys.length && last.every((k, i) => k === keys[i])) return n.lastKeysId;
    const sig = JSON.stringify(keys);
    let id = n.keysetIds.get(sig);
    if (id === undefined) {
      id = n.keysets.length;
      n.keysets.push(keys);
      n.keysetIds.set(sig, id);
    }
    n.lastKeys = keys;
    n.lastKeysId = id;
    return id;
  };

  const put = (n: EncNode, v: unknown, depth: number): void => {
    if (depth > MAX_PATH_DEPTH) throw notJson("a value nested too deeply", n.path);
    if (v === null || typeof v !== "object") {
      if (typeof v === "number" ? !Number.isFinite(v) : v !== null && typeof v !== "string" && typeof v !== "boolean") {
        throw notJson(typeof v === "number" ? `the number ${v}` : typeof v, n.path);
      }
      noteKind(n, P);
      // -0 has no JSON form of its own: it is written, and so read back, as 0.
      n.vals.push(Object.is(v, -0) ? 0 : (v as Prim));
      return;
    }
    if (Array.isArray(v)) {
      noteKind(n, A);
      n.len.push(v.length);
      if (v.length === 0) return;
      for (let i = 0; i < v.length; i++) {
        const at = i < positions ? i : positions;
        const item = (n.items[at] ??= node([...n.path, at]));
        put(item, v[i] === undefined ? null : v[i], depth + 1);
      }
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw notJson(`a non-plain object ${Object.prototype.toString.call(v)}`, n.path);
    noteKind(n, O);
    const o = v as Record<string, unknown>;
    let keys = Object.keys(o);
    let sorted = true;
    let defined = true;
    for (let i = 0; i < keys.length; i++) {
      if (i > 0 && !(keys[i - 1] < keys[i])) sorted = false;
      if (o[keys[i]] === undefined) defined = false;
    }
    if (!defined) keys = keys.filter((k) => o[k] !== undefined);
    if (!sorted) keys = [...keys].sort();
    n.shape.push(keysetId(n, keys));
    for (const k of keys) {
      let child = n.children.get(k);
      if (!child) n.children.set(k, (child = node([...n.path, k])));
      put(child, o[k], depth + 1);
    }
  };

  return {
    add: (value) => put(root, value, 0),
    finish(table) {
      const out: PathEntry[] = [];
      for (const n of nodes) {
        if (n.count === 0) continue;
        const e: PathEntry = { path: n.path };
        if (n.kinds) e.kinds = n.kinds.map((k) => KIND_CHARS[k]).join("");
        if (n.keysets.length > 0) {
          e.keys = n.keysets;
          e.shape = n.shape;
        }
        if (n.len.length > 0) e.len = n.len;
        if (n.vals.length > 0) e.val = encodePrims(n.vals, table);
        out.push(e);
      }
      return out;
    },
  };
}

/** Roughly the characters a number takes in JSON: what the encoder compares to choose deltas or not. */
function digits(x: number): number {
  const a = Math.abs(x);
  return (x < 0 ? 1 : 0) + (a < 10 ? 1 : Math.floor(Math.log10(a)) + 1);
}

/** Deltas of `xs` (the first against 0), or undefined when one is not a safe integer. */
function deltasOf(xs: ArrayLike<number>): number[] | undefined {
  const out = new Array<number>(xs.length);
  let prev = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i] - prev;
    if (!Number.isSafeInteger(d)) return undefined;
    out[i] = d;
    prev = xs[i];
  }
  return out;
}

function cheaper(plain: number[], deltas: number[] | undefined): boolean {
  if (!deltas) return false;
  let a = 0;
  let b = 0;
  for (let i = 0; i < plain.length; i++) {
    a += digits(plain[i]);
    b += digits(deltas[i]);
  }
  return b < a;
}

const isSafeInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

// A prefix and a canonical decimal number of at most 15 digits (safe): the
// lazy prefix takes the shortest split, so "ab012" is "ab0" + 12.
const COUNTER = /^([^]*?)(0|[1-9][0-9]{0,14})$/;

/** ["sfx", …] when the strings are few prefixes with counters, else undefined. */
function trySuffix(vals: string[], table: StringTable): PrimColumn | undefined {
  const prefixes = new Map<string, number>();
  const nums = new Array<number>(vals.length);
  const pre = new Array<string>(vals.length);
  const limit = Math.max(1, vals.length >> 3);
  for (let i = 0; i < vals.length; i++) {
    const m = COUNTER.exec(vals[i]);
    if (!m) return undefined;
    pre[i] = m[1];
    nums[i] = Number(m[2]);
    if (!prefixes.has(m[1])) {
      if (prefixes.size >= limit) return undefined;
      prefixes.set(m[1], 0);
    }
  }
  const d = deltasOf(nums);
  const p = pre.map((x) => table.intern(x));
  return cheaper(nums, d) ? ["sfxd", p, d!] : ["sfx", p, nums];
}

/** ["dict", …] when the strings take few distinct values, else undefined. */
function tryDict(vals: string[], table: StringTable): PrimColumn | undefined {
  const ids = new Map<string, number>();
  const limit = Math.max(1, vals.length >> 3);
  const out = new Array<number>(vals.length);
  for (let i = 0; i < vals.length; i++) {
    let id = ids.get(vals[i]);
    if (id === undefined) {
      if (ids.size >= limit) return undefined;
      ids.set(vals[i], (id = ids.size));
    }
    out[i] = id;
  }
  const local = [...ids.keys()].map((s) => table.intern(s));
  const d = deltasOf(out);
  return cheaper(out, d) ? ["dictd", local, d!] : ["dict", local, out];
}

export function encodePrims(vals: Prim[], table: StringTable): PrimColumn {
  let allInt = true;
  let allStr = true;
  for (const v of vals) {
    if (!isSafeInt(v)) allInt = false;
    if (typeof v !== "string") allStr = false;
    if (!allInt && !allStr) break;
  }
  if (allInt) {
    const ints = vals as number[];
    const d = deltasOf(ints);
    return cheaper(ints, d) ? ["intd", d!] : ["int", ints];
  }
  if (allStr) {
    const strs = vals as string[];
    // Small columns (an exchange's few adds) gain nothing from a local table.
    const small = strs.length < 8;
    const local = small ? undefined : (tryDict(strs, table) ?? trySuffix(strs, table));
    if (local) return local;
    const idx = strs.map((s) => table.intern(s));
    const d = deltasOf(idx);
    return cheaper(idx, d) ? ["strd", d!] : ["str", idx];
  }
  return ["raw", vals];
}

// ---------------------------------------------------------------- decoding

/** The refusal of anything inconsistent in the encoded log. */
export function logInvalid(message: string, details?: Record<string, unknown>): WalletError {
  return new WalletError("backup-log-invalid", `the backup's event log is inconsistent: ${message}`, details);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const own = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

/** A dense array of at most MAX_COLUMN_LENGTH items, else a refusal naming `what`. */
export function checkArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw logInvalid(`${what} is not an array`);
  if (v.length > MAX_COLUMN_LENGTH) throw logInvalid(`${what} holds more than ${MAX_COLUMN_LENGTH} items`);
  // A JavaScript caller's array can have holes, which map and forEach skip: the walks below would then meet undefined.
  for (let i = 0; i < v.length; i++) if (!(i in v)) throw logInvalid(`${what}[${i}] is missing (a sparse array)`);
  return v;
}

/** An array of safe integers (within [min, max] when given). */
export function checkInts(v: unknown, what: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number[] {
  const a = checkArray(v, what);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (!isSafeInt(x) || x < min || x > max) throw logInvalid(`${what}[${i}] is not an integer from ${min} to ${max}`);
  }
  return a as number[];
}

/** Running sums of deltas; each must stay a safe integer of at least `min`. */
export function prefixSums(deltas: number[], what: string, min = -Number.MAX_SAFE_INTEGER): Float64Array {
  const out = new Float64Array(deltas.length);
  let acc = 0;
  for (let i = 0; i < deltas.length; i++) {
    acc += deltas[i];
    if (!Number.isSafeInteger(acc) || acc < min) throw logInvalid(`${what} sums to ${acc} at ${i}, not an integer of at least ${min}`);
    out[i] = acc;
  }
  return out;
}

/** A decoded primitive column: its length and the value at an index. */
interface Prims {
  readonly length: number;
  at(i: number): Prim;
}

function indices(v: unknown, what: string, n: number): Int32Array {
  const a = checkInts(v, what, 0, n - 1);
  return Int32Array.from(a);
}

function decodePrims(col: unknown, strings: readonly string[], where: string): Prims {
  const c = checkArray(col, where);
  const tag = c[0];
  const what = `${where} (${String(tag)})`;
  const arity = tag === "sfx" || tag === "sfxd" || tag === "dict" || tag === "dictd" ? 3 : 2;
  if (c.length !== arity) throw logInvalid(`${where} is not a primitive column`);
  switch (tag) {
    case "raw": {
      const vals = checkArray(c[1], what);
      for (let i = 0; i < vals.length; i++) {
        const v = vals[i];
        const ok = v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
        if (!ok) throw logInvalid(`${what}[${i}] is not a JSON primitive`);
      }
      return { length: vals.length, at: (i) => vals[i] as Prim };
    }
    case "int": {
      const xs = checkInts(c[1], what);
      return { length: xs.length, at: (i) => xs[i] };
    }
    case "intd": {
      const xs = prefixSums(checkInts(c[1], what), what);
      return { length: xs.length, at: (i) => xs[i] };
    }
    case "str": {
      const idx = indices(c[1], what, strings.length);
      return { length: idx.length, at: (i) => strings[idx[i]] };
    }
    case "strd": {
      const idx = prefixSums(checkInts(c[1], what), what, 0);
      for (let i = 0; i < idx.length; i++) if (idx[i] >= strings.length) throw logInvalid(`${what}[${i}] points past the string table`);
      return { length: idx.length, at: (i) => strings[idx[i]] };
    }
    case "dict":
    case "dictd": {
      const local = indices(c[1], `${what} table`, strings.length);
      const raw = checkInts(c[2], `${what} ids`);
      const ids = tag === "dict" ? raw : prefixSums(raw, `${what} ids`);
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] < 0 || ids[i] >= local.length) throw logInvalid(`${what}[${i}] points past its table`);
      }
      return { length: ids.length, at: (i) => strings[local[ids[i]]] };
    }
    case "sfx":
    case "sfxd": {
      const pre = indices(c[1], `${what} prefixes`, strings.length);
      const raw = checkInts(c[2], `${what} numbers`, tag === "sfx" ? 0 : -Number.MAX_SAFE_INTEGER);
      const nums = tag === "sfx" ? raw : prefixSums(raw, `${what} numbers`, 0);
      if (pre.length !== nums.length) throw logInvalid(`${what} has ${pre.length} prefixes but ${nums.length} numbers`);
      return { length: pre.length, at: (i) => strings[pre[i]] + String(nums[i]) };
    }
    default:
      throw logInvalid(`${where} has an unknown encoding ${JSON.stringify(tag)}`);
  }
}

interface DecNode {
  id: number;
  path: string;
  /** The kind of every node here, or undefined when all share `only`. */
  kinds: string | undefined;
  only: number;
  keys: string[][];
  shape: Int32Array;
  len: Float64Array;
  vals: Prims | undefined;
  children: Map<string, DecNode>;
  /** Item nodes by path segment (0 … positions). */
  items: (DecNode | undefined)[];
}

/**
 * Where a reader stands in every column: four counters per path (kinds,
 * primitives, objects, arrays). Copies are independent, so several readers
 * can walk the same columns at different places.
 */
export type ColumnCursor = Int32Array;

export interface ColumnDecoder {
  /** A cursor at the start of every column. */
  start(): ColumnCursor;
  /** The next value at `cursor`, advancing it; throws backup-log-invalid when a column runs out. */
  read(cursor: ColumnCursor): unknown;
  /** Advances `cursor` past one value without building it. */
  skip(cursor: ColumnCursor): void;
  /** Throws backup-log-invalid unless `cursor` stands at the end of every column. */
  checkConsumed(cursor: ColumnCursor): void;
}

function checkKeysets(v: unknown, what: string): string[][] {
  const sets = checkArray(v, what);
  for (let i = 0; i < sets.length; i++) {
    const ks = checkArray(sets[i], `${what}[${i}]`);
    for (let j = 0; j < ks.length; j++) {
      if (typeof ks[j] !== "string") throw logInvalid(`${what}[${i}][${j}] is not a string`);
      // Strictly sorted: no key twice, and objects come out in canonical key order.
      if (j > 0 && !((ks[j - 1] as string) < (ks[j] as string))) throw logInvalid(`${what}[${i}] is not strictly sorted`);
    }
  }
  return sets as string[][];
}

const ENTRY_FIELDS = new Set(["path", "kinds", "keys", "shape", "len", "val"]);

/** Reads the entries of one column set; throws backup-log-invalid on anything inconsistent. */
export function createColumnDecoder(entries: unknown, strings: readonly string[], where: string, opts: ColumnOptions = {}): ColumnDecoder {
  const positions = positionsOf(opts);
  const list = checkArray(entries, where);
  const byPath = new Map<string, DecNode>();
  const nodes: DecNode[] = [];
  for (let i = 0; i < list.length; i++) {
    const at = `${where}[${i}]`;
    const e = list[i];
    if (!isPlainObject(e)) throw logInvalid(`${at} is not an object`);
    for (const k of Object.keys(e)) if (!ENTRY_FIELDS.has(k)) throw logInvalid(`${at} has an unknown field ${JSON.stringify(k)}`);
    const path = checkArray(own(e, "path"), `${at}.path`);
    if (path.length > MAX_PATH_DEPTH) throw logInvalid(`${at}.path is deeper than ${MAX_PATH_DEPTH}`);
    for (const s of path) {
      if (typeof s !== "string" && !(Number.isSafeInteger(s) && (s as number) >= 0 && (s as number) <= positions)) {
        throw logInvalid(`${at}.path holds ${JSON.stringify(s)}, not a key or an item position (0…${positions})`);
      }
    }
    const id = JSON.stringify(path);
    if (byPath.has(id)) throw logInvalid(`${at}.path ${id} appears twice`);

    const kinds = own(e, "kinds");
    if (kinds !== undefined && (typeof kinds !== "string" || !/^[poa]*$/.test(kinds) || kinds.length > MAX_COLUMN_LENGTH)) {
      throw logInvalid(`${at}.kinds is not a string of p, o and a`);
    }
    const keysRaw = own(e, "keys");
    const shapeRaw = own(e, "shape");
    if ((keysRaw === undefined) !== (shapeRaw === undefined)) throw logInvalid(`${at} needs both keys and shape, or neither`);
    const keys = keysRaw === undefined ? [] : checkKeysets(keysRaw, `${at}.keys`);
    const shape = shapeRaw === undefined ? new Int32Array(0) : Int32Array.from(checkInts(shapeRaw, `${at}.shape`, 0, keys.length - 1));
    const lenRaw = own(e, "len");
    const len = lenRaw === undefined ? new Float64Array(0) : Float64Array.from(checkInts(lenRaw, `${at}.len`, 0, MAX_COLUMN_LENGTH));
    const valRaw = own(e, "val");
    const vals = valRaw === undefined ? undefined : decodePrims(valRaw, strings, `${at}.val`);

    let only = -1;
    if (typeof kinds === "string") {
      let p = 0;
      let o = 0;
      let a = 0;
      for (let k = 0; k < kinds.length; k++) {
        const c = kinds.charCodeAt(k);
        if (c === 112) p++;
        else if (c === 111) o++;
        else a++;
      }
      if (p !== (vals?.length ?? 0) || o !== shape.length || a !== len.length) {
        throw logInvalid(`${at}.kinds counts ${p}/${o}/${a} primitives/objects/arrays, the columns hold ${vals?.length ?? 0}/${shape.length}/${len.length}`);
      }
    } else {
      const present = [vals !== undefined, shapeRaw !== undefined, lenRaw !== undefined];
      if (present.filter(Boolean).length !== 1) throw logInvalid(`${at} must hold exactly one of val, shape and len (or say its kinds)`);
      only = present[0] ? P : present[1] ? O : A;
    }

    const n: DecNode = { id: nodes.length, path: id, kinds: kinds as string | undefined, only, keys, shape, len, vals, children: new Map(), items: [] };
    if (path.length === 0) {
      if (nodes.length !== 0) throw logInvalid(`${at}: the root path must come first`);
    } else {
      const parent = byPath.get(JSON.stringify(path.slice(0, -1)));
      if (!parent) throw logInvalid(`${at}.path ${id} comes before (or without) its parent`);
      const last = path[path.length - 1];
      if (typeof last === "number") parent.items[last] = n;
      else parent.children.set(last as string, n);
    }
    byPath.set(id, n);
    nodes.push(n);
  }
  // The root came first (a path's parent must come before it), or there are no entries at all.
  const root = nodes[0];

  const kindAt = (n: DecNode, cur: ColumnCursor): number => {
    if (n.kinds === undefined) return n.only;
    const i = cur[n.id * 4]++;
    if (i >= n.kinds.length) throw logInvalid(`${where} runs out of kinds at ${n.path}`);
    return KIND_CHARS.indexOf(n.kinds[i]);
  };

  const walk = (n: DecNode, cur: ColumnCursor, build: boolean): unknown => {
    const base = n.id * 4;
    switch (kindAt(n, cur)) {
      case P: {
        const i = cur[base + 1]++;
        if (i >= n.vals!.length) throw logInvalid(`${where} runs out of values at ${n.path}`);
        return build ? n.vals!.at(i) : undefined;
      }
      case O: {
        const i = cur[base + 2]++;
        if (i >= n.shape.length) throw logInvalid(`${where} runs out of objects at ${n.path}`);
        const keys = n.keys[n.shape[i]];
        const o: Record<string, unknown> | undefined = build ? {} : undefined;
        for (const k of keys) {
          const child = n.children.get(k);
          if (!child) throw logInvalid(`${where} has no path for key ${JSON.stringify(k)} under ${n.path}`);
          const v = walk(child, cur, build);
          // "__proto__" must stay a key like any other, never set the prototype.
          if (o) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        }
        return o;
      }
      default: {
        const i = cur[base + 3]++;
        if (i >= n.len.length) throw logInvalid(`${where} runs out of arrays at ${n.path}`);
        const length = n.len[i];
        const out: unknown[] | undefined = build ? [] : undefined;
        // Every item consumes an entry of some column, so a false length runs out of entries, not of memory.
        for (let j = 0; j < length; j++) {
          const item = n.items[j < positions ? j : positions];
          if (!item) throw logInvalid(`${where} has no path for item ${j} of ${n.path}`);
          const v = walk(item, cur, build);
          if (out) out.push(v);
        }
        return out;
      }
    }
  };

  const none = () => {
    throw logInvalid(`${where} holds no values`);
  };

  return {
    start: () => new Int32Array(nodes.length * 4),
    read: (cur) => (root ? walk(root, cur, true) : none()),
    skip: (cur) => void (root ? walk(root, cur, false) : none()),
    checkConsumed(cur) {
      for (const n of nodes) {
        const b = n.id * 4;
        const used = [cur[b], cur[b + 1], cur[b + 2], cur[b + 3]];
        const have = [n.kinds?.length ?? 0, n.vals?.length ?? 0, n.shape.length, n.len.length];
        if (used.some((u, k) => u !== have[k])) {
          throw logInvalid(`${where} has entries no value uses at ${n.path}`);
        }
      }
    },
  };
}

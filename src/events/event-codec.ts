// An event's bytes: its canonical JSON, which is both what the store keeps
// and what its hash (the next event's `prev`) is taken of. Encoding once
// serves both; decoding is one JSON.parse.
import * as crypto from "node:crypto";
import { canonicalJson } from "../codec/canonical-json.ts";
import { encodeCrock } from "../codec/crockford.ts";
import { codeUnitLess, sortShort } from "../codec/short-sort.ts";
import { sha512 } from "../codec/hash.ts";
import type { WalletEvent } from "./envelope.ts";

/**
 * An event as the log will keep it: its canonical JSON and the Crockford
 * SHA-512 of that text's UTF-8 bytes. The sealed bytes are made only at the
 * put (sealTransient): a batch of 100k events then holds strings it already
 * had, not 70 MB of fresh buffers.
 */
export interface EncodedEvent {
  text: string;
  hash: string;
}

/** What a log value's checksum binds it to: its key. */
export const logTag = (device: string, seq: number) => `log:${device}:${seq}`;

// Deeper than any event the schema admits: beyond it, the canonical encoder decides.
const MAX_FAST_DEPTH = 64;

/**
 * True when every object in `v` has its keys in canonical (code unit) order
 * and every number is finite: then JSON.stringify(v) is exactly its canonical
 * JSON, and the native stringifier does the work (about 2.5× faster here).
 */
function isCanonicallyOrdered(v: unknown, depth = 0): boolean {
  // Anything else (bigint, undefined, functions, symbols, cycles past the depth) takes the
  // canonical encoder, which refuses it as a WalletError instead of a raw TypeError.
  if (typeof v !== "object") return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
  if (v === null) return true;
  if (depth > MAX_FAST_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isCanonicallyOrdered(v[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  let prev = "";
  let first = true;
  // for-in over a plain object visits its own keys in insertion order, without allocating a key array.
  for (const k in v) {
    if (!first && !(prev < k)) return false;
    first = false;
    prev = k;
    if (!isCanonicallyOrdered((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/** Canonical JSON of a (validated) event: the fast path when it is already in canonical order. */
export function canonicalEventText(e: WalletEvent): string {
  return isCanonicallyOrdered(e) ? JSON.stringify(e) : canonicalJson(e);
}

/** A JSON value with its object keys in canonical order: itself when it already is, else a deep copy. */
export function canonicalCopy<T>(v: T): T {
  return isCanonicallyOrdered(v) ? v : (sortedCopy(v) as T);
}

function sortedCopy(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map(sortedCopy);
  // Called on validated payloads only: their keys are schema fields, never __proto__. A plain
  // object (not a null-prototype one) keeps V8's fast properties: stringifying is ~5× faster.
  const o: Record<string, unknown> = {};
  for (const k of sortShort(Object.keys(v), codeUnitLess)) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) o[k] = sortedCopy(x);
  }
  return o;
}

// crypto.hash (Node ≥ 20.12) is a one-shot native SHA-512 without a Hash object: ~40% less per event here.
// Given a string it hashes its UTF-8 bytes without a buffer of them.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array | string, enc: "buffer") => Buffer }).hash;
const sha512Of = (d: Uint8Array | string): Uint8Array =>
  oneShot ? oneShot("sha512", d, "buffer") : sha512(typeof d === "string" ? Buffer.from(d, "utf8") : d);

/** Hash that names an event's bytes: Crockford SHA-512. */
export const hashOfBytes = (bytes: Uint8Array): string => encodeCrock(sha512Of(bytes));

/** The same hash, of canonical JSON text (its UTF-8 bytes). */
export const hashOfText = (text: string): string => encodeCrock(sha512Of(text));

/** Encodes an event for the log; `text`, when the caller knows it, is its canonical JSON. */
export function encodeEvent(e: WalletEvent, text: string = canonicalEventText(e)): EncodedEvent {
  return { text, hash: hashOfText(text) };
}

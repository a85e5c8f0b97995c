// The envelope every shared event carries, its hash chain, and its validation.
import { thrownText, WalletError } from "../errors.ts";
import { isDeviceId, seqOf, type VectorClock } from "./clock.ts";
import { encodeEvent } from "./event-codec.ts";
export { dotName } from "./clock.ts";
import { catalogue, isEventType, type Draft, type EventType, type LocalEventType, type SharedEventType } from "./catalogue.ts";

/** An event as stored, exported and imported. Its dot is (device, seq). */
export interface WalletEvent {
  device: string;
  seq: number;
  lamport: number;
  /** The author's vector clock just before appending: the event's causal past. */
  deps: VectorClock;
  /** Author's wall clock (ms), informational only. */
  time: number;
  /** Hash of the same device's previous event; absent for seq 1. */
  prev?: string;
  type: string;
  data: unknown;
}

/** A validated shared event: envelope plus a payload typed by its `type`. */
export type SharedEvent = Omit<WalletEvent, "type" | "data"> & Draft<SharedEventType>;

/** A device-local event: its own sequence, never exported. */
export type LocalEvent = { n: number; time: number } & Draft<LocalEventType>;

/** Hash that names an event's content: Crockford SHA-512 of its canonical JSON. */
export function eventHash(e: WalletEvent): string {
  return encodeEvent(e).hash;
}

/** The last millisecond of year 9999: an event time beyond it (or before 1970) is refused. */
export const MAX_TIME_MS = 253_402_300_799_999;
/**
 * Lamports stay below MAX − 1, own events and imported ones alike (an event at
 * MAX − 1 would leave no successor below MAX): one rule everywhere, so whatever
 * a device writes its peers accept. No real history comes near (2^50 events in
 * one causal chain), and an unsafe lamport (2^53) never enters a log.
 */
export const MAX_LAMPORT = 2 ** 50;


/** Checks a payload against the catalogue; throws `event-invalid` naming the field and `where` (or what it returns). */
export function validatePayload(type: EventType, data: unknown, where: string | (() => string)): void {
  const problem = catalogue[type].schema.check(data);
  if (problem) {
    const path = `data${problem.path}`;
    throw new WalletError("event-invalid", `${typeof where === "string" ? where : where()}: ${type} ${path} ${problem.reason}`, { type, path });
  }
}

const isNat = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(["device", "seq", "lamport", "deps", "time", "prev", "type", "data"]);
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function isPlainObject(v: unknown): v is object {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Validates an event received from outside (import, backup): envelope shape,
 * a known shared type, and its payload. Returns it typed; throws WalletError.
 * `where` names it in refusals, `index` (when given) as `where[index]`.
 */
export function validateSharedEvent(raw: unknown, where = "event", index?: number): SharedEvent {
  try {
    return checkSharedEvent(raw, where, index);
  } catch (err) {
    if (err instanceof WalletError) throw err;
    // The host's object: a getter or a Proxy trap that throws is a bad event, not a bug of the engine.
    throw new WalletError("event-invalid", `${index === undefined ? where : `${where}[${index}]`} could not be read: ${thrownText(err)}`);
  }
}

function checkSharedEvent(raw: unknown, where: string, index: number | undefined): SharedEvent {
  // The name is built only for a refusal: no strings per valid event of an import.
  const name = () => {
    const at = index === undefined ? where : `${where}[${index}]`;
    // The dot, as soon as the envelope has a plausible one, so every refusal says which event it was.
    return isPlainObject(raw) && isDeviceId(e.device) && isNat(e.seq) ? `${at} (${e.device}:${e.seq})` : at;
  };
  const e = raw as Record<string, unknown>;
  if (!isPlainObject(raw)) {
    throw new WalletError("event-invalid", `${name()}: expected an object`);
  }
  const bad = (field: string, reason: string): never => {
    throw new WalletError("event-invalid", `${name()}: ${field} ${reason}`, { path: field });
  };
  // for-in with hasOwn: the own keys, without a key array per event.
  for (const k in e) if (hasOwn(e, k) && !ENVELOPE_FIELDS.has(k)) bad(k, "is not a known field");
  if (typeof e.device !== "string" || !isDeviceId(e.device)) bad("device", "must match [A-Za-z0-9_-]{1,64} (and not be __proto__)");
  if (!isNat(e.seq) || e.seq < 1 || e.seq > MAX_LAMPORT) bad("seq", `must be a positive integer up to ${MAX_LAMPORT}`);
  if (!isNat(e.lamport) || e.lamport < 1) bad("lamport", "must be a positive integer");
  if ((e.lamport as number) >= MAX_LAMPORT - 1) {
    throw new WalletError("import-bad-lamport", `${name()}: lamport ${String(e.lamport)} leaves no successor below ${MAX_LAMPORT}: every device's events stay below ${MAX_LAMPORT - 1}`, { path: "lamport" });
  }
  if (!isNat(e.time) || e.time > MAX_TIME_MS) bad("time", "must be a time in ms between 1970 and 9999");
  if (!isPlainObject(e.deps)) bad("deps", "must be a vector clock");
  const deps = e.deps as Record<string, unknown>;
  for (const d in deps) {
    if (!hasOwn(deps, d)) continue;
    const s = deps[d];
    if (!isDeviceId(d) || !isNat(s) || s < 1) bad(`deps.${d}`, "must be a positive integer per device");
  }
  const seq = e.seq as number;
  if (seqOf(e.deps as VectorClock, e.device as string) !== seq - 1) bad("deps", `must include the author's own previous seq ${seq - 1}`);
  if (seq === 1) {
    if (e.prev !== undefined) bad("prev", "must be absent on a device's first event");
  } else if (typeof e.prev !== "string" || e.prev.length === 0 || e.prev.length > 512) {
    bad("prev", "must be the hash of the device's previous event");
  }
  if (!isEventType(e.type)) {
    throw new WalletError("event-unknown-type", `${name()}: unknown event type ${JSON.stringify(e.type)}`, {
      type: e.type,
    });
  }
  if (catalogue[e.type].scope !== "shared") {
    throw new WalletError("event-local-not-shareable", `${name()}: ${e.type} is device-local and cannot be imported`);
  }
  validatePayload(e.type, e.data, name);
  return raw as SharedEvent;
}

// Tiny runtime schemas with static types inferred from them, so an event type
// is declared once (its schema) and its TypeScript type follows. A schema
// returns the problem it found as a path + reason, never throws: the caller
// turns that into a WalletError with the event's coordinates.
//
// The path is built while a problem travels up, never on the way down: a
// payload that conforms (nearly all of them) costs no path strings, which
// were 40 MB of allocation per 100k appended events.

/** `path` is relative to the value checked: "" for the value itself, else ".field" and "[i]" steps. */
export type Problem = { path: string; reason: string };

export interface Schema<T> {
  /** Returns undefined when `v` conforms, else the first problem found. */
  check(v: unknown): Problem | undefined;
  /** Marker for type inference only. */
  readonly _t?: T;
  readonly optional?: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const fail = (path: string, reason: string): Problem => ({ path, reason });
/** A child's problem, seen from its parent: `step` is ".field" or "[i]". */
const under = (step: string, p: Problem): Problem => ({ path: step + p.path, reason: p.reason });
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function primitive<T>(name: string, ok: (v: unknown) => boolean): Schema<T> {
  return { check: (v) => (ok(v) ? undefined : fail("", `expected ${name}`)) };
}

export const str: Schema<string> = primitive("a string", (v) => typeof v === "string");
export const nonEmptyStr: Schema<string> = primitive("a non-empty string", (v) => typeof v === "string" && v.length > 0);
export const bool: Schema<boolean> = primitive("a boolean", (v) => typeof v === "boolean");
export const num: Schema<number> = primitive("a finite number", (v) => typeof v === "number" && Number.isFinite(v));
export const nat: Schema<number> = primitive(
  "a non-negative safe integer",
  (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0,
);
export const unknownValue: Schema<unknown> = { check: () => undefined };

/** A non-empty string of at most `maxBytes` UTF-8 bytes (ids end up in store keys, which LMDB bounds). */
export function boundedStr(maxBytes: number): Schema<string> {
  return primitive(`a non-empty string of at most ${maxBytes} bytes`, (v) => typeof v === "string" && v.length > 0 && (v.length * 3 <= maxBytes || Buffer.byteLength(v) <= maxBytes));
}

/** A string that satisfies `test` (e.g. an amount or a canonical URL). */
export function pattern(name: string, test: (s: string) => boolean): Schema<string> {
  return primitive(name, (v) => typeof v === "string" && test(v));
}

export function literal<const L extends string | number | boolean>(l: L): Schema<L> {
  return primitive(JSON.stringify(l), (v) => v === l);
}

export function oneOf<const L extends string>(...ls: L[]): Schema<L> {
  return primitive(`one of ${ls.join(", ")}`, (v) => typeof v === "string" && (ls as string[]).includes(v));
}

export function optional<T>(s: Schema<T>): Schema<T | undefined> {
  return { check: (v) => (v === undefined ? undefined : s.check(v)), optional: true };
}

export function nullable<T>(s: Schema<T>): Schema<T | null> {
  return { check: (v) => (v === null ? undefined : s.check(v)) };
}

export function union<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B> {
  return {
    check(v) {
      const pa = a.check(v);
      if (pa === undefined) return undefined;
      return b.check(v) === undefined ? undefined : pa;
    },
  };
}

export function array<T>(item: Schema<T>, opts: { min?: number } = {}): Schema<T[]> {
  return {
    check(v) {
      if (!Array.isArray(v)) return fail("", "expected an array");
      if (opts.min !== undefined && v.length < opts.min) return fail("", `expected at least ${opts.min} item(s)`);
      for (let i = 0; i < v.length; i++) {
        const p = item.check(v[i]);
        if (p) return under(`[${i}]`, p);
      }
      return undefined;
    },
  };
}

/** A fixed-length array, item by item (the stored forms of records are tuples). */
export function tuple(...items: Schema<unknown>[]): Schema<unknown[]> {
  return {
    check(v) {
      if (!Array.isArray(v) || v.length !== items.length) return fail("", `expected an array of ${items.length}`);
      for (let i = 0; i < items.length; i++) {
        const p = items[i].check(v[i]);
        if (p) return under(`[${i}]`, p);
      }
      return undefined;
    },
  };
}

/** String-keyed map with uniform values (e.g. a vector clock). */
export function record<T>(value: Schema<T>, key?: Schema<string>): Schema<Record<string, T>> {
  return {
    check(v) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return fail("", "expected an object");
      for (const [k, x] of Object.entries(v)) {
        if (key) {
          const pk = key.check(k);
          if (pk) return under(`.${k}`, pk);
        }
        const p = value.check(x);
        if (p) return under(`.${k}`, p);
      }
      return undefined;
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/**
 * An object with exactly these fields: unknown keys are refused, because an
 * event payload is part of a hash chain and must mean one thing everywhere.
 */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return {
    check(v) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return fail("", "expected an object");
      const o = v as Record<string, unknown>;
      for (const k of keys) {
        const s = shape[k];
        if (!hasOwn(o, k) || o[k] === undefined) {
          if (s.optional) continue;
          return fail(`.${k}`, "is required");
        }
        const p = s.check(o[k]);
        if (p) return under(`.${k}`, p);
      }
      // Own properties only: "constructor" or "__proto__" in a payload is an unknown field, never a prototype's.
      // for-in with hasOwn visits the same keys as Object.keys without an array per object validated.
      for (const k in o) {
        if (hasOwn(o, k) && !hasOwn(shape, k)) return fail(`.${k}`, "is not a known field");
      }
      return undefined;
    },
  };
}

/** `s`, further constrained by `test` on the whole value (a rule across fields). */
export function refine<T>(s: Schema<T>, test: (v: T) => boolean, reason: string): Schema<T> {
  return {
    check(v) {
      return s.check(v) ?? (test(v as T) ? undefined : fail("", reason));
    },
    ...(s.optional ? { optional: true } : {}),
  };
}

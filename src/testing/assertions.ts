// How a law check fails: a node AssertionError whose message names the law and
// lists what differs, path by path, so it reads well both thrown directly in a
// vitest test and wrapped in a fast-check counterexample report (which keeps
// only the message). No test framework is needed to run the checks.
import { AssertionError } from "node:assert";
import { isDeepStrictEqual } from "node:util";

/**
 * A value with the differences vitest's toEqual ignores taken out: fields
 * holding undefined are dropped and prototypes forgotten (a record read back
 * from the store is a plain object either way). Maps, sets, bytes and dates
 * keep their content, tagged so they never equal a plain object.
 */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) return { "<Map>": [...v].map(([k, x]) => [plain(k), plain(x)]) };
  if (v instanceof Set) return { "<Set>": [...v].map(plain) };
  if (ArrayBuffer.isView(v)) return { "<bytes>": Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (v instanceof Date) return { "<Date>": v.getTime() };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = plain(x);
  }
  return out;
}

/** Throws an AssertionError "law: what" when the condition is false. */
export function lawAssert(condition: boolean, law: string, what: string): asserts condition {
  if (!condition) throw lawFailure(law, what);
}

/**
 * An AssertionError for a broken law. With values, the message lists where
 * they differ (path by path) and the error carries them as actual/expected,
 * so a test runner shows its own full diff when the error reaches it directly.
 */
export function lawFailure(law: string, what: string, values?: { actual: unknown; expected: unknown }): AssertionError {
  if (values === undefined) return new AssertionError({ message: `${law}: ${what}` });
  const actual = plain(values.actual);
  const expected = plain(values.expected);
  const diffs = differences(actual, expected, "", []);
  const shown = diffs.slice(0, MAX_SHOWN).map((d) => `  ${d}`);
  if (diffs.length > MAX_SHOWN) shown.push(`  … and ${diffs.length - MAX_SHOWN} more`);
  const e = new AssertionError({ message: `${law}: ${what}\n${shown.join("\n")}` });
  // Set afterwards: given to the constructor, some Node versions append their own diff to the message.
  Object.assign(e, { actual, expected, operator: "deepStrictEqual" });
  return e;
}

const MAX_SHOWN = 20;

/** Fields that name an element of a list (records, exchanges, balances, coins): lists of such elements are compared by that name, not by position. */
const IDENTITY_FIELDS = ["key", "exchangeBaseUrl", "coinPub", "currency"] as const;

function identityField(list: unknown[]): string | undefined {
  return IDENTITY_FIELDS.find((f) => list.every((x) => typeof x === "object" && x !== null && !Array.isArray(x) && f in x));
}

const show = (v: unknown): string => {
  if (v === undefined) return "absent";
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/** Where two plain values differ, one line per differing leaf ("clock.dev1: 3, expected 2"). */
function differences(actual: unknown, expected: unknown, path: string, out: string[]): string[] {
  if (isDeepStrictEqual(actual, expected)) return out;
  const at = (k: string) => (path === "" ? k : `${path}${k.startsWith("[") ? "" : "."}${k}`);
  if (Array.isArray(actual) && Array.isArray(expected)) {
    const id = identityField([...actual, ...expected]);
    if (id !== undefined) {
      const byId = (list: unknown[]) => new Map(list.map((x) => [JSON.stringify((x as Record<string, unknown>)[id]), x]));
      const a = byId(actual);
      const b = byId(expected);
      if (a.size === actual.length && b.size === expected.length) {
        for (const k of [...new Set([...b.keys(), ...a.keys()])]) differences(a.get(k), b.get(k), at(`[${id}=${k}]`), out);
        return out;
      }
    }
    for (let i = 0; i < Math.max(actual.length, expected.length); i++) differences(actual[i], expected[i], at(`[${i}]`), out);
    return out;
  }
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isRecord(actual) && isRecord(expected)) {
    for (const k of [...new Set([...Object.keys(expected), ...Object.keys(actual)])]) differences(actual[k], expected[k], at(k), out);
    return out;
  }
  out.push(`${path === "" ? "the value" : path}: ${show(actual)}, expected ${show(expected)}`);
  return out;
}

/** Throws a lawFailure listing the differences unless `actual` and `expected` are deep-equal (fields holding undefined and prototypes aside, as with toEqual). */
export function lawAssertEqual(actual: unknown, expected: unknown, law: string, what: string): void {
  // Strictly equal values are equal the looser way too: skip the copies on the common path.
  if (isDeepStrictEqual(actual, expected)) return;
  const a = plain(actual);
  const b = plain(expected);
  if (!isDeepStrictEqual(a, b)) throw lawFailure(law, what, { actual: a, expected: b });
}

/** Like lawAssertEqual, but byte-for-byte as JSON: key order counts too. */
export function lawAssertSameJson(actual: unknown, expected: unknown, law: string, what: string): void {
  if (JSON.stringify(actual) === JSON.stringify(expected)) return;
  const sameContent = isDeepStrictEqual(plain(actual), plain(expected));
  throw lawFailure(law, sameContent ? `${what} (same content, different key order)` : what, { actual, expected });
}

// How a law check fails: a node AssertionError whose message names the law,
// says what differs and shows a diff, so it reads well both thrown directly
// in a vitest test and wrapped in a fast-check counterexample report (which
// keeps only the message). No test framework is needed to run the checks.
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

/** An AssertionError for a broken law, optionally with actual and expected values to diff. */
export function lawFailure(law: string, what: string, values?: { actual: unknown; expected: unknown }): AssertionError {
  if (values === undefined) return new AssertionError({ message: `${law}: ${what}` });
  const actual = plain(values.actual);
  const expected = plain(values.expected);
  const diff = new AssertionError({ actual, expected, operator: "deepStrictEqual" }).message;
  const e = new AssertionError({ message: `${law}: ${what}\n${diff}`, actual, expected, operator: "deepStrictEqual" });
  // The message carries the diff already; a runner printing its own would repeat it.
  (e as AssertionError & { showDiff?: boolean }).showDiff = false;
  return e;
}

/** Throws a lawFailure with a diff unless `actual` and `expected` are deep-equal as JSON. */
export function lawAssertEqual(actual: unknown, expected: unknown, law: string, what: string): void {
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

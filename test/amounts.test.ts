import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  AMOUNT_MAX_VALUE,
  type Amount,
  addAmounts,
  amountAdd,
  amountCmp,
  amountSub,
  amountSum,
  cmpAmounts,
  formatAmount,
  isZero,
  maxAmount,
  minAmount,
  normalizeAmount,
  parseAmount,
  subAmounts,
  sumAmounts,
  unitsOf,
  zeroAmount,
  addUnits,
  subUnits,
  cmpUnits,
  formatUnits,
  isZeroUnits,
  type Units,
} from "../src/codec/amounts.ts";
import { codeOf } from "./support/error-code.ts";


const MAX = String(AMOUNT_MAX_VALUE); // "4503599627370496"

describe("parse and format", () => {
  it("parses the usual forms", () => {
    expect(parseAmount("KUDOS:1.5")).toEqual({ currency: "KUDOS", value: 1, fraction: 50_000_000 });
    expect(parseAmount("KUDOS:0.00000001")).toEqual({ currency: "KUDOS", value: 0, fraction: 1 });
    expect(parseAmount("EUR:8")).toEqual({ currency: "EUR", value: 8, fraction: 0 });
    expect(parseAmount("X:0")).toEqual({ currency: "X", value: 0, fraction: 0 });
    expect(parseAmount("TESTKUDOS_1:1").currency).toBe("TESTKUDOS_1");
    expect(parseAmount("ABCDEFGHIJKL:1").currency).toBe("ABCDEFGHIJKL");
  });

  it("formats without trailing zeros or a bare point", () => {
    expect(formatAmount({ currency: "KUDOS", value: 8, fraction: 0 })).toBe("KUDOS:8");
    expect(formatAmount({ currency: "KUDOS", value: 0, fraction: 50_000_000 })).toBe("KUDOS:0.5");
    expect(formatAmount({ currency: "KUDOS", value: 0, fraction: 1 })).toBe("KUDOS:0.00000001");
    expect(formatAmount({ currency: "KUDOS", value: 3, fraction: 12_340_000 })).toBe("KUDOS:3.1234");
    expect(normalizeAmount("KUDOS:1.50000000")).toBe("KUDOS:1.5");
    expect(normalizeAmount("KUDOS:2.0")).toBe("KUDOS:2");
  });

  it("accepts leading zeros and normalises them away", () => {
    expect(parseAmount("KUDOS:01")).toEqual({ currency: "KUDOS", value: 1, fraction: 0 });
    expect(normalizeAmount("KUDOS:0001.10")).toBe("KUDOS:1.1");
    expect(normalizeAmount("KUDOS:00")).toBe("KUDOS:0");
  });

  it("accepts 2^52 and refuses 2^52 + 1", () => {
    expect(parseAmount(`KUDOS:${MAX}`).value).toBe(AMOUNT_MAX_VALUE);
    expect(normalizeAmount(`KUDOS:${MAX}.99999999`)).toBe(`KUDOS:${MAX}.99999999`);
    expect(codeOf(() => parseAmount("KUDOS:4503599627370497"))).toBe("amount-invalid");
    expect(codeOf(() => parseAmount("KUDOS:99999999999999999999999"))).toBe("amount-invalid");
    expect(normalizeAmount("KUDOS:00000000000000000000004503599627370496")).toBe(`KUDOS:${MAX}`);
  });

  it("refuses malformed strings", () => {
    const bad = [
      "KUDOS:",
      "KUDOS:.5",
      "KUDOS:1.",
      "KUDOS:-1",
      "KUDOS:+1",
      ":1",
      "KUDOS1",
      "KUDOS",
      "",
      " KUDOS:1",
      "KUDOS:1 ",
      "KUDOS: 1",
      "KUDOS :1",
      "KUDOS:1.000000001",
      "KUDOS:1e3",
      "KUDOS:0x10",
      "KUDOS:1,5",
      "KUDOS:1.5.5",
      "KUDOS:1:2",
      "1KUDOS:1",
      "ABCDEFGHIJKLM:1",
      "KU DOS:1",
      "KUDOS:Infinity",
      "KUDOS:NaN",
      "KUDOS:１",
    ];
    for (const s of bad) expect(codeOf(() => parseAmount(s)), s).toBe("amount-invalid");
    expect(codeOf(() => parseAmount(42 as unknown as string))).toBe("amount-invalid");
  });

  it("refuses invalid amount objects when formatting", () => {
    const bad: Amount[] = [
      { currency: "KUDOS", value: 1.5, fraction: 0 },
      { currency: "KUDOS", value: -1, fraction: 0 },
      { currency: "KUDOS", value: AMOUNT_MAX_VALUE + 1, fraction: 0 },
      { currency: "KUDOS", value: 0, fraction: 100_000_000 },
      { currency: "KUDOS", value: 0, fraction: -1 },
      { currency: "", value: 0, fraction: 0 },
    ];
    for (const a of bad) expect(codeOf(() => formatAmount(a))).toBe("amount-invalid");
  });
});

describe("arithmetic", () => {
  it("carries fractions", () => {
    expect(amountAdd("KUDOS:0.99999999", "KUDOS:0.00000001")).toBe("KUDOS:1");
    expect(amountAdd("KUDOS:0.5", "KUDOS:0.5")).toBe("KUDOS:1");
    expect(amountAdd("KUDOS:1.7", "KUDOS:2.6")).toBe("KUDOS:4.3");
    expect(amountSub("KUDOS:1", "KUDOS:0.00000001")).toBe("KUDOS:0.99999999");
    expect(amountSub("KUDOS:5.25", "KUDOS:5.25")).toBe("KUDOS:0");
    // The classic float trap is exact here.
    expect(amountAdd("KUDOS:0.1", "KUDOS:0.2")).toBe("KUDOS:0.3");
  });

  it("reaches 2^52 exactly and overflows past it", () => {
    expect(amountAdd(`KUDOS:${AMOUNT_MAX_VALUE - 1}.5`, "KUDOS:0.5")).toBe(`KUDOS:${MAX}`);
    expect(amountAdd(`KUDOS:${MAX}.5`, "KUDOS:0.49999999")).toBe(`KUDOS:${MAX}.99999999`);
    expect(codeOf(() => amountAdd(`KUDOS:${MAX}.5`, "KUDOS:0.5"))).toBe("amount-overflow");
    expect(codeOf(() => amountAdd(`KUDOS:${MAX}`, "KUDOS:1"))).toBe("amount-overflow");
    expect(codeOf(() => amountAdd(`KUDOS:${MAX}.99999999`, `KUDOS:${MAX}.99999999`))).toBe("amount-overflow");
  });

  it("refuses mixing currencies", () => {
    expect(codeOf(() => amountAdd("KUDOS:1", "EUR:1"))).toBe("currency-mismatch");
    expect(codeOf(() => amountSub("KUDOS:1", "EUR:1"))).toBe("currency-mismatch");
    expect(codeOf(() => amountCmp("KUDOS:1", "EUR:1"))).toBe("currency-mismatch");
    // Currencies are compared exactly; no silent case folding.
    expect(codeOf(() => amountAdd("KUDOS:1", "kudos:1"))).toBe("currency-mismatch");
  });

  it("refuses a negative result", () => {
    expect(codeOf(() => amountSub("KUDOS:1", "KUDOS:1.00000001"))).toBe("amount-negative");
    expect(codeOf(() => amountSub("KUDOS:0", "KUDOS:0.1"))).toBe("amount-negative");
    expect(codeOf(() => amountSub("KUDOS:1.5", "KUDOS:2"))).toBe("amount-negative");
  });

  it("compares, sums and picks extremes", () => {
    expect(amountCmp("KUDOS:1", "KUDOS:1.0")).toBe(0);
    expect(amountCmp("KUDOS:1", "KUDOS:1.00000001")).toBe(-1);
    expect(amountCmp("KUDOS:2", "KUDOS:1.99999999")).toBe(1);
    expect(amountSum("KUDOS", ["KUDOS:0.3", "KUDOS:0.3", "KUDOS:0.4"])).toBe("KUDOS:1");
    expect(amountSum("KUDOS", [])).toBe("KUDOS:0");
    expect(formatAmount(sumAmounts("KUDOS", [parseAmount("KUDOS:1.25"), parseAmount("KUDOS:2.75")]))).toBe("KUDOS:4");
    expect(codeOf(() => sumAmounts("KUDOS", [parseAmount("EUR:1")]))).toBe("currency-mismatch");
    const a = parseAmount("KUDOS:1");
    const b = parseAmount("KUDOS:2");
    expect(minAmount(a, b)).toBe(a);
    expect(maxAmount(a, b)).toBe(b);
    expect(isZero(zeroAmount("KUDOS"))).toBe(true);
    expect(isZero(parseAmount("KUDOS:0.00000001"))).toBe(false);
    expect(codeOf(() => zeroAmount("no way"))).toBe("amount-invalid");
  });
});

describe("properties", () => {
  // Kept within 2^50 so sums of three never overflow; overflow has its own tests.
  const amount = fc.record({
    currency: fc.constant("KUDOS"),
    value: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 50 })),
    fraction: fc.oneof(fc.constantFrom(0, 1, 99_999_999, 50_000_000), fc.integer({ min: 0, max: 99_999_999 })),
  });
  const anyAmount = fc.record({
    currency: fc.constant("KUDOS"),
    value: fc.integer({ min: 0, max: AMOUNT_MAX_VALUE }),
    fraction: fc.integer({ min: 0, max: 99_999_999 }),
  });

  it("addition is commutative and associative", () => {
    fc.assert(
      fc.property(amount, amount, amount, (a, b, c) => {
        expect(addAmounts(a, b)).toEqual(addAmounts(b, a));
        expect(addAmounts(addAmounts(a, b), c)).toEqual(addAmounts(a, addAmounts(b, c)));
        expect(addAmounts(a, zeroAmount("KUDOS"))).toEqual(a);
      }),
    );
  });

  it("(a + b) - b == a", () => {
    fc.assert(
      fc.property(amount, amount, (a, b) => {
        expect(subAmounts(addAmounts(a, b), b)).toEqual(a);
        expect(subAmounts(addAmounts(a, b), a)).toEqual(b);
      }),
    );
  });

  it("format and parse round-trip", () => {
    fc.assert(
      fc.property(anyAmount, (a) => {
        const s = formatAmount(a);
        expect(parseAmount(s)).toEqual(a);
        expect(normalizeAmount(s)).toBe(s);
      }),
    );
  });

  it("normalisation is idempotent over textual variants", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 999999 }),
        fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 0, maxLength: 8 }),
        fc.nat({ max: 3 }),
        (v, frac, zeros) => {
          const text = `KUDOS:${"0".repeat(zeros)}${v}${frac === "" ? "" : "." + frac}`;
          const n = normalizeAmount(text);
          expect(normalizeAmount(n)).toBe(n);
          expect(amountCmp(n, text)).toBe(0);
        },
      ),
    );
  });

  it("comparison agrees with subtraction", () => {
    fc.assert(
      fc.property(anyAmount, anyAmount, (a, b) => {
        const c = cmpAmounts(a, b);
        expect(cmpAmounts(b, a)).toBe(c === 0 ? 0 : -c);
        expect(cmpAmounts(a, a)).toBe(0);
        if (c >= 0) {
          const d = subAmounts(a, b);
          expect(isZero(d)).toBe(c === 0);
        } else {
          expect(codeOf(() => subAmounts(a, b))).toBe("amount-negative");
        }
      }),
    );
  });

  it("unitsOf reads every string exactly as parseAmount does, refusals included", () => {
    // unitsOf reads the short form by hand: it must accept, value and refuse exactly like the regex.
    const outcome = (f: () => { value: number; fraction: number } | Units) => {
      try {
        const r = f();
        return Array.isArray(r) ? r : [r.value, r.fraction];
      } catch (e) {
        return codeOf(() => {
          throw e;
        });
      }
    };
    const currency = fc.constantFrom("KUDOS", "EUR", "A", "A_b-9", "ABCDEFGHIJKL", "ABCDEFGHIJKLM", "1A", "", "K U");
    const digits = fc.string({ unit: fc.constantFrom(..."0123456789.:-+e "), maxLength: 24 });
    const text = fc.oneof(fc.tuple(currency, digits).map(([c, d]) => `${c}:${d}`), fc.string({ maxLength: 30 }), fc.constantFrom(`KUDOS:${MAX}`, `KUDOS:${MAX}.00000001`, "KUDOS:4503599627370497", "KUDOS:999999999999999.99999999", "KUDOS:1.123456789"));
    fc.assert(
      fc.property(text, (s) => {
        expect(outcome(() => unitsOf(s))).toEqual(outcome(() => parseAmount(s)));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("running totals (Units) past 2^52", () => {
  // A total as one exact number of 1e-8 units, and back: the reference the Units arithmetic must match.
  const B = BigInt(AMOUNT_MAX_VALUE);
  const F = 100_000_000n;
  const big = (u: Units): bigint => ((u.length === 3 ? BigInt(u[2]) * B : 0n) + BigInt(u[0])) * F + BigInt(u[1]);
  const valid = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(AMOUNT_MAX_VALUE, AMOUNT_MAX_VALUE - 1), fc.integer({ min: 0, max: AMOUNT_MAX_VALUE })), fc.integer({ min: 0, max: 99_999_999 }));
  // Totals are built by adding valid amounts, as the folds build them.
  const total = fc.array(valid, { maxLength: 5 }).map((xs) => xs.reduce<Units>((t, [v, f]) => addUnits(t, [v, f]), [0, 0]));
  const isCanonical = (u: Units) => (u.length === 2 ? u[0] <= AMOUNT_MAX_VALUE : u[0] < AMOUNT_MAX_VALUE && u[2] >= 1 && !(u[2] === 1 && u[0] === 0));

  it("add, subtract and compare exactly, in canonical form, whatever the size", () => {
    fc.assert(
      fc.property(total, total, (a, b) => {
        const sum = addUnits(a, b);
        expect(big(sum)).toBe(big(a) + big(b));
        expect(isCanonical(sum)).toBe(true);
        expect(cmpUnits(a, b)).toBe(big(a) < big(b) ? -1 : big(a) > big(b) ? 1 : 0);
        expect(subUnits(sum, b)).toEqual(a);
        if (big(a) >= big(b)) {
          const d = subUnits(a, b);
          expect(big(d)).toBe(big(a) - big(b));
          expect(isCanonical(d)).toBe(true);
        } else {
          expect(codeOf(() => subUnits(a, b))).toBe("amount-negative");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("the short form up to 2^52, the carried form above; shown as the largest amount when past it", () => {
    expect(addUnits([AMOUNT_MAX_VALUE - 1, 99_999_999], [0, 1])).toEqual([AMOUNT_MAX_VALUE, 0]);
    expect(addUnits([AMOUNT_MAX_VALUE, 0], [1, 0])).toEqual([1, 0, 1]);
    expect(addUnits([AMOUNT_MAX_VALUE, 0], [AMOUNT_MAX_VALUE, 0])).toEqual([0, 0, 2]);
    expect(subUnits([1, 0, 1], [1, 0])).toEqual([AMOUNT_MAX_VALUE, 0]);
    expect(isZeroUnits(subUnits([0, 0, 2], [0, 0, 2]))).toBe(true);
    expect(formatUnits("KUDOS", [AMOUNT_MAX_VALUE, 5])).toBe(`KUDOS:${MAX}.00000005`);
    expect(formatUnits("KUDOS", [1, 0, 1])).toBe(`KUDOS:${MAX}.99999999`);
  });
});

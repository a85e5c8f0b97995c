import { WalletError } from "../errors.ts";

/** A Taler amount in its wire form, e.g. "KUDOS:1.5". */
export type AmountString = string;

/**
 * An exact amount: `value` whole units (integer, 0..2^52) plus `fraction`
 * in units of 1e-8 (integer, 0 <= fraction < 1e8).
 */
export interface Amount {
  currency: string;
  value: number;
  fraction: number;
}

/** Taler's largest whole value: keeps every value exact in a double. */
export const AMOUNT_MAX_VALUE = 2 ** 52;
/** Fraction units per whole unit (8 decimal digits). */
export const AMOUNT_FRACTION_BASE = 100_000_000;

// Leading zeros in the value are accepted and normalised away; at most 8
// fraction digits because that is the resolution of the fraction field.
const AMOUNT_RE = /^([A-Za-z][A-Za-z0-9_-]{0,11}):([0-9]+)(?:\.([0-9]{1,8}))?$/;
const CURRENCY_RE = /^[A-Za-z][A-Za-z0-9_-]{0,11}$/;

function invalid(message: string, input: unknown): WalletError {
  return new WalletError("amount-invalid", message, { input });
}

/** Parses "CUR:V[.F]" exactly; refuses signs, exponents, spaces, empty parts and values over 2^52. */
export function parseAmount(s: string): Amount {
  if (typeof s !== "string") throw invalid("amount must be a string", s);
  const m = AMOUNT_RE.exec(s);
  if (m === null) throw invalid(`malformed amount ${JSON.stringify(s)}`, s);
  // A digit string converts exactly up to 2^53 and rounds upward beyond it,
  // so the range check below is sound even for absurdly long inputs.
  const value = Number(m[2]);
  if (value > AMOUNT_MAX_VALUE) throw invalid(`amount value of ${JSON.stringify(s)} exceeds 2^52`, s);
  const frac = m[3];
  const fraction = frac === undefined ? 0 : Number(frac.padEnd(8, "0"));
  return { currency: m[1], value, fraction };
}

function checkAmount(a: Amount): void {
  if (
    a === null ||
    typeof a !== "object" ||
    typeof a.currency !== "string" ||
    !CURRENCY_RE.test(a.currency) ||
    !Number.isInteger(a.value) ||
    a.value < 0 ||
    a.value > AMOUNT_MAX_VALUE ||
    !Number.isInteger(a.fraction) ||
    a.fraction < 0 ||
    a.fraction >= AMOUNT_FRACTION_BASE
  ) {
    throw invalid("not a valid amount object", a);
  }
}

/** Wire form without trailing fraction zeros and without "." for whole amounts ("KUDOS:8", "KUDOS:0.5"). */
export function formatAmount(a: Amount): AmountString {
  checkAmount(a);
  if (a.fraction === 0) return `${a.currency}:${a.value}`;
  let digits = String(a.fraction).padStart(8, "0");
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  return `${a.currency}:${a.value}.${digits}`;
}

/** The canonical wire form of an amount string. */
export function normalizeAmount(s: string): AmountString {
  return formatAmount(parseAmount(s));
}

function sameCurrency(a: Amount, b: Amount): void {
  if (a.currency !== b.currency) {
    throw new WalletError("currency-mismatch", `cannot combine ${a.currency} with ${b.currency}`, {
      left: a.currency,
      right: b.currency,
    });
  }
}

/** The zero amount of a currency. */
export function zeroAmount(currency: string): Amount {
  if (!CURRENCY_RE.test(currency)) throw invalid(`invalid currency ${JSON.stringify(currency)}`, currency);
  return { currency, value: 0, fraction: 0 };
}

/** True iff the amount is zero. */
export function isZero(a: Amount): boolean {
  return a.value === 0 && a.fraction === 0;
}

/** Exact sum; "amount-overflow" when the whole part passes 2^52. */
export function addAmounts(a: Amount, b: Amount): Amount {
  sameCurrency(a, b);
  let fraction = a.fraction + b.fraction;
  let value = a.value + b.value;
  if (fraction >= AMOUNT_FRACTION_BASE) {
    fraction -= AMOUNT_FRACTION_BASE;
    value += 1;
  }
  // Both summands are <= 2^52, so even a rounded sum stays above the limit when it overflows.
  if (value > AMOUNT_MAX_VALUE) {
    throw new WalletError("amount-overflow", `sum of ${formatAmount(a)} and ${formatAmount(b)} exceeds 2^52`, {
      left: formatAmount(a),
      right: formatAmount(b),
    });
  }
  return { currency: a.currency, value, fraction };
}

/** Exact difference a - b; "amount-negative" when b > a. */
export function subAmounts(a: Amount, b: Amount): Amount {
  sameCurrency(a, b);
  let fraction = a.fraction - b.fraction;
  let value = a.value - b.value;
  if (fraction < 0) {
    fraction += AMOUNT_FRACTION_BASE;
    value -= 1;
  }
  if (value < 0) {
    throw new WalletError("amount-negative", `${formatAmount(a)} minus ${formatAmount(b)} is negative`, {
      left: formatAmount(a),
      right: formatAmount(b),
    });
  }
  return { currency: a.currency, value, fraction };
}

/** -1, 0 or 1 as a is less than, equal to or greater than b (same currency required). */
export function cmpAmounts(a: Amount, b: Amount): -1 | 0 | 1 {
  sameCurrency(a, b);
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  if (a.fraction !== b.fraction) return a.fraction < b.fraction ? -1 : 1;
  return 0;
}

/** The smaller of two amounts of one currency. */
export function minAmount(a: Amount, b: Amount): Amount {
  return cmpAmounts(a, b) <= 0 ? a : b;
}

/** The larger of two amounts of one currency. */
export function maxAmount(a: Amount, b: Amount): Amount {
  return cmpAmounts(a, b) >= 0 ? a : b;
}

/** Sum of a list in one currency (zero for an empty list). */
export function sumAmounts(currency: string, list: Iterable<Amount>): Amount {
  let acc = zeroAmount(currency);
  for (const x of list) acc = addAmounts(acc, x);
  return acc;
}

/** a + b on wire-form strings, result normalised. */
export function amountAdd(a: AmountString, b: AmountString): AmountString {
  return formatAmount(addAmounts(parseAmount(a), parseAmount(b)));
}

/** a - b on wire-form strings, result normalised; "amount-negative" when b > a. */
export function amountSub(a: AmountString, b: AmountString): AmountString {
  return formatAmount(subAmounts(parseAmount(a), parseAmount(b)));
}

/** cmpAmounts on wire-form strings. */
export function amountCmp(a: AmountString, b: AmountString): -1 | 0 | 1 {
  return cmpAmounts(parseAmount(a), parseAmount(b));
}

/** Sum of wire-form strings in one currency, normalised. */
export function amountSum(currency: string, list: Iterable<AmountString>): AmountString {
  let acc = zeroAmount(currency);
  for (const x of list) acc = addAmounts(acc, parseAmount(x));
  return formatAmount(acc);
}

// ---------------------------------------------------------------- units
//
// Running totals in records: an amount of a currency the record already
// names, as [whole value, fraction in 1e-8]. Exact like Amount, without a
// currency string per number and without parsing text on every touch.
//
// A total of valid amounts can pass 2^52 (two devices' logs, each valid
// alone): then it carries a third part, the whole multiples of 2^52, so it
// stays exact and a merge never fails on it. Totals are kept canonical
// (the short form wherever the whole part is at most 2^52), so replicas
// holding the same events hold equal records.

/** [value, fraction] (value ≤ 2^52, 0 ≤ fraction < 1e8), or [value, fraction, carry]: value + carry·2^52, value < 2^52. */
export type Units = [number, number] | [number, number, number];

export const ZERO_UNITS: Units = [0, 0];

export function unitsOf(s: AmountString): Units {
  // Reducers take the units of every amount they touch: the common short form is read by hand, without
  // the regex's match array and strings; anything else (and every refusal) goes through parseAmount.
  const colon = typeof s === "string" ? s.indexOf(":") : -1;
  if (colon > 0 && colon <= 12 && CURRENCY_RE.test(s.slice(0, colon))) {
    const n = s.length;
    let i = colon + 1;
    let value = 0;
    // 15 digits stay below 2^52 and exact; longer values take the slow path's range check.
    while (i < n && i - colon <= 15) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      value = value * 10 + (c - 48);
      i++;
    }
    if (i > colon + 1) {
      if (i === n) return [value, 0];
      if (s.charCodeAt(i) === 46 && n - i - 1 >= 1 && n - i - 1 <= 8) {
        let fraction = 0;
        let j = i + 1;
        for (; j < n; j++) {
          const c = s.charCodeAt(j);
          if (c < 48 || c > 57) break;
          fraction = fraction * 10 + (c - 48);
        }
        if (j === n) return [value, fraction * 10 ** (8 - (n - i - 1))];
      }
    }
  }
  const a = parseAmount(s);
  return [a.value, a.fraction];
}

/** The parts of a total: whole multiples of 2^52, the rest below 2^52, the fraction. */
function wide(u: Units): [number, number, number] {
  if (u.length === 3) return [u[2], u[0], u[1]];
  return u[0] === AMOUNT_MAX_VALUE ? [1, 0, u[1]] : [0, u[0], u[1]];
}

function canonical(carry: number, value: number, fraction: number): Units {
  if (carry === 0) return [value, fraction];
  if (carry === 1 && value === 0) return [AMOUNT_MAX_VALUE, fraction];
  return [value, fraction, carry];
}

/** Exact sum; past 2^52 it carries (never refuses: a fold of valid events must not fail on a total). */
export function addUnits(a: Units, b: Units): Units {
  if (a.length === 2 && b.length === 2) {
    // The common case: two short forms whose sum stays at most 2^52.
    let fraction = a[1] + b[1];
    let value = a[0] + b[0];
    if (fraction >= AMOUNT_FRACTION_BASE) {
      fraction -= AMOUNT_FRACTION_BASE;
      value += 1;
    }
    if (value <= AMOUNT_MAX_VALUE) return [value, fraction];
  }
  const [ca, va, fa] = wide(a);
  const [cb, vb, fb] = wide(b);
  let fraction = fa + fb;
  let value = va + vb;
  let carry = ca + cb;
  if (fraction >= AMOUNT_FRACTION_BASE) {
    fraction -= AMOUNT_FRACTION_BASE;
    value += 1;
  }
  if (value >= AMOUNT_MAX_VALUE) {
    value -= AMOUNT_MAX_VALUE;
    carry += 1;
  }
  return canonical(carry, value, fraction);
}

/** a − b; amount-negative when b > a. */
export function subUnits(a: Units, b: Units): Units {
  if (a.length === 2 && b.length === 2) {
    let fraction = a[1] - b[1];
    let value = a[0] - b[0];
    if (fraction < 0) {
      fraction += AMOUNT_FRACTION_BASE;
      value -= 1;
    }
    if (value < 0) throw new WalletError("amount-negative", `a difference of amounts is negative`);
    return [value, fraction];
  }
  const [ca, va, fa] = wide(a);
  const [cb, vb, fb] = wide(b);
  let fraction = fa - fb;
  let value = va - vb;
  let carry = ca - cb;
  if (fraction < 0) {
    fraction += AMOUNT_FRACTION_BASE;
    value -= 1;
  }
  if (value < 0) {
    value += AMOUNT_MAX_VALUE;
    carry -= 1;
  }
  if (carry < 0) throw new WalletError("amount-negative", `a difference of amounts is negative`);
  return canonical(carry, value, fraction);
}

export function cmpUnits(a: Units, b: Units): -1 | 0 | 1 {
  if (a.length === 2 && b.length === 2) {
    if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
    if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
    return 0;
  }
  const x = wide(a);
  const y = wide(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

export const isZeroUnits = (u: Units): boolean => u.length === 2 && u[0] === 0 && u[1] === 0;

/**
 * A total as an amount. One past 2^52 has no Taler amount: it shows as the largest one
 * (as wallet-core's saturating sums do), while the record keeps it exact.
 */
export const formatUnits = (currency: string, u: Units): AmountString =>
  u.length === 3 ? formatAmount({ currency, value: AMOUNT_MAX_VALUE, fraction: AMOUNT_FRACTION_BASE - 1 }) : formatAmount({ currency, value: u[0], fraction: u[1] });

/** The currency of a canonical amount string, without parsing its number. */
export function currencyOf(s: AmountString): string {
  const i = s.indexOf(":");
  if (i <= 0) throw invalid(`malformed amount ${JSON.stringify(s)}`, s);
  return s.slice(0, i);
}

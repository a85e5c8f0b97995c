// Random valid requests for the engine's state-changing operations, against a
// world the caller describes (its exchanges, coins and withdrawal groups).
// "Valid" means the engine's request validation accepts every payload and
// every payload is consistent with the world: currencies match, refresh
// outputs never exceed what they consume, new ids are unique. A wallet may
// still refuse one against its state at that moment (a coin already spent,
// an exchange suspended or not added yet); such refusals are among
// EXPECTED_REFUSALS when the world tells the truth.
import fc from "fast-check";
import { formatAmount, parseAmount, type AmountString } from "../codec/amounts.ts";
import type { Wallet } from "../wallet.ts";
import { TOS_ETAGS } from "./histories.ts";

/** What requests may refer to. */
export interface RequestWorld {
  /** Exchanges by base URL (as the coins and groups below name them), with the currency their coins are in. At least one. */
  exchanges: readonly { url: string; currency: string }[];
  /** Coins to spend or refresh. */
  coins?: readonly { coinPub: string; value: AmountString; exchangeBaseUrl: string }[];
  /** Withdrawal groups to add coins to or abort. */
  withdrawalGroups?: readonly { withdrawalGroupId: string; exchangeBaseUrl: string }[];
  /** ToS etags to accept (default TOS_ETAGS). */
  etags?: readonly string[];
  /** Starts every id the requests make up (coins, groups, spends, refreshes); default "req". */
  idPrefix?: string;
}

/** The operations requestArb generates. */
export const REQUEST_OPERATIONS = [
  "addExchange",
  "setExchangeTosAccepted",
  "setExchangeTosForgotten",
  "setExchangeSuspended",
  "deleteExchange",
  "recordWithdrawal",
  "recordSpend",
  "recordRefresh",
  "abortWithdrawal",
] as const;
export type RequestOperation = (typeof REQUEST_OPERATIONS)[number];

/** An operation name with its payload: `wallet.handleRequest(r.operation, id, r.payload)` or `applyRequest(wallet, r)`. */
export type WalletRequest = { [K in RequestOperation]: { operation: K; payload: Parameters<Wallet[K]>[0] } }[RequestOperation];

/** Calls the typed Wallet method of a request. */
export function applyRequest(wallet: Wallet, r: WalletRequest): Promise<unknown> {
  switch (r.operation) {
    case "addExchange":
      return wallet.addExchange(r.payload);
    case "setExchangeTosAccepted":
      return wallet.setExchangeTosAccepted(r.payload);
    case "setExchangeTosForgotten":
      return wallet.setExchangeTosForgotten(r.payload);
    case "setExchangeSuspended":
      return wallet.setExchangeSuspended(r.payload);
    case "deleteExchange":
      return wallet.deleteExchange(r.payload);
    case "recordWithdrawal":
      return wallet.recordWithdrawal(r.payload);
    case "recordSpend":
      return wallet.recordSpend(r.payload);
    case "recordRefresh":
      return wallet.recordRefresh(r.payload);
    case "abortWithdrawal":
      return wallet.abortWithdrawal(r.payload);
    default: {
      const never: never = r;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
}

// A draft names what it acts on by index into what is known when it is
// resolved (modulo), so a sequence can spend coins an earlier request made.
type Draft =
  | { op: "addExchange"; ex: number; preset: boolean }
  | { op: "setExchangeTosAccepted"; ex: number; etag: number }
  | { op: "setExchangeTosForgotten"; ex: number }
  | { op: "setExchangeSuspended"; ex: number; suspended: boolean }
  | { op: "deleteExchange"; ex: number; purge: boolean }
  | { op: "recordWithdrawal"; ex: number; group: number | null; values: number[]; extra: number | null; namedGroup: boolean }
  | { op: "recordSpend"; coin: number; permille: number; namedSpend: boolean }
  | { op: "recordRefresh"; coins: number[]; permille: number; outputs: number; keepAll: boolean; namedRefresh: boolean }
  | { op: "abortWithdrawal"; group: number };

/** Coin values in 1e-8 units: mostly whole cents, sometimes down to the last digit. */
const unitsArb = fc.oneof(
  fc.integer({ min: 1, max: 2_000 }).map((c) => c * 1_000_000),
  fc.integer({ min: 1, max: 1_000_000_000 }),
);

function draftArb(operations: readonly RequestOperation[]): fc.Arbitrary<Draft> {
  const pick = fc.nat({ max: 15 });
  const permille = fc.integer({ min: 1, max: 1_000 });
  const all: Record<RequestOperation, { weight: number; arbitrary: fc.Arbitrary<Draft> }> = {
    addExchange: { weight: 3, arbitrary: fc.record({ op: fc.constant("addExchange" as const), ex: pick, preset: fc.boolean() }) },
    setExchangeTosAccepted: { weight: 2, arbitrary: fc.record({ op: fc.constant("setExchangeTosAccepted" as const), ex: pick, etag: pick }) },
    setExchangeTosForgotten: { weight: 1, arbitrary: fc.record({ op: fc.constant("setExchangeTosForgotten" as const), ex: pick }) },
    setExchangeSuspended: { weight: 1, arbitrary: fc.record({ op: fc.constant("setExchangeSuspended" as const), ex: pick, suspended: fc.boolean() }) },
    deleteExchange: { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteExchange" as const), ex: pick, purge: fc.boolean() }) },
    recordWithdrawal: {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant("recordWithdrawal" as const),
        ex: pick,
        group: fc.option(pick, { nil: null, freq: 3 }),
        values: fc.array(unitsArb, { minLength: 0, maxLength: 3 }),
        extra: fc.option(fc.oneof(fc.constant(0), unitsArb), { nil: null }),
        namedGroup: fc.boolean(),
      }),
    },
    recordSpend: {
      weight: 5,
      arbitrary: fc.record({ op: fc.constant("recordSpend" as const), coin: pick, permille, namedSpend: fc.boolean() }),
    },
    recordRefresh: {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("recordRefresh" as const),
        coins: fc.array(pick, { minLength: 1, maxLength: 2 }),
        permille,
        outputs: fc.integer({ min: 0, max: 3 }),
        keepAll: fc.boolean(),
        namedRefresh: fc.boolean(),
      }),
    },
    abortWithdrawal: { weight: 1, arbitrary: fc.record({ op: fc.constant("abortWithdrawal" as const), group: pick }) },
  };
  if (operations.length === 0) throw new Error("requestArb needs at least one operation");
  return fc.oneof(...operations.map((op) => all[op]));
}

const amountOf = (currency: string, units: bigint): AmountString =>
  formatAmount({ currency, value: Number(units / 100_000_000n), fraction: Number(units % 100_000_000n) });

function unitsOf(amount: AmountString): { currency: string; units: bigint } {
  const a = parseAmount(amount);
  return { currency: a.currency, units: BigInt(a.value) * 100_000_000n + BigInt(a.fraction) };
}

/** At least one unit: a request amount must be positive. */
const share = (units: bigint, permille: number): bigint => {
  const s = (units * BigInt(permille)) / 1000n;
  return s > 0n ? s : 1n;
};

/** What a sequence knows while it is resolved: the world, plus what earlier requests created. */
interface Known {
  coins: { coinPub: string; value: AmountString; exchangeBaseUrl: string }[];
  groups: { withdrawalGroupId: string; exchangeBaseUrl: string }[];
}

/** Turns a draft into a request, or undefined when it needs a coin or group nobody knows. `n` makes its ids unique. */
function resolve(d: Draft, world: RequestWorld, known: Known, n: number): WalletRequest | undefined {
  const prefix = `${world.idPrefix ?? "req"}${n}`;
  const exchange = (i: number) => world.exchanges[i % world.exchanges.length];
  const currencyOf = (url: string) => world.exchanges.find((x) => x.url === url)!.currency;
  switch (d.op) {
    case "addExchange":
      return { operation: d.op, payload: { exchangeBaseUrl: exchange(d.ex).url, preset: d.preset } };
    case "setExchangeTosAccepted": {
      const etags = world.etags ?? TOS_ETAGS;
      return { operation: d.op, payload: { exchangeBaseUrl: exchange(d.ex).url, etag: etags[d.etag % etags.length] } };
    }
    case "setExchangeTosForgotten":
      return { operation: d.op, payload: { exchangeBaseUrl: exchange(d.ex).url } };
    case "setExchangeSuspended":
      return { operation: d.op, payload: { exchangeBaseUrl: exchange(d.ex).url, suspended: d.suspended } };
    case "deleteExchange":
      return { operation: d.op, payload: { exchangeBaseUrl: exchange(d.ex).url, purge: d.purge } };
    case "recordWithdrawal": {
      const existing = d.group !== null && known.groups.length > 0 ? known.groups[d.group % known.groups.length] : undefined;
      const url = existing?.exchangeBaseUrl ?? exchange(d.ex).url;
      const currency = currencyOf(url);
      const coins = d.values.map((v, j) => ({ coinPub: `${prefix}-c${j}`, denomPubHash: `denom-${currency}-${v}`, value: amountOf(currency, BigInt(v)) }));
      const payload: Parameters<Wallet["recordWithdrawal"]>[0] = { exchangeBaseUrl: url, coins };
      const groupId = existing?.withdrawalGroupId ?? (d.namedGroup ? `${prefix}-w` : undefined);
      if (groupId !== undefined) payload.withdrawalGroupId = groupId;
      // A withdrawal without coins is one still pending: it needs the amount it was instructed for.
      const extra = d.extra ?? (coins.length === 0 ? 100_000_000 : null);
      if (extra !== null) {
        const total = d.values.reduce((a, v) => a + BigInt(v), 0n) + BigInt(extra);
        payload.amount = amountOf(currency, total > 0n ? total : 1n);
      }
      for (const c of coins) known.coins.push({ coinPub: c.coinPub, value: c.value, exchangeBaseUrl: url });
      if (!existing && groupId !== undefined) known.groups.push({ withdrawalGroupId: groupId, exchangeBaseUrl: url });
      return { operation: d.op, payload };
    }
    case "recordSpend": {
      if (known.coins.length === 0) return undefined;
      const c = known.coins[d.coin % known.coins.length];
      const { currency, units } = unitsOf(c.value);
      const payload: Parameters<Wallet["recordSpend"]>[0] = { coinPub: c.coinPub, amount: amountOf(currency, share(units, d.permille)) };
      if (d.namedSpend) payload.spendId = `${prefix}-s`;
      return { operation: d.op, payload };
    }
    case "recordRefresh": {
      if (known.coins.length === 0) return undefined;
      const first = known.coins[d.coins[0] % known.coins.length];
      // Inputs: distinct coins of one exchange.
      const picked = [...new Set(d.coins.map((i) => known.coins[i % known.coins.length]))].filter((c) => c.exchangeBaseUrl === first.exchangeBaseUrl);
      const currency = unitsOf(first.value).currency;
      const inputs = picked.map((c) => ({ coinPub: c.coinPub, units: share(unitsOf(c.value).units, d.permille) }));
      const consumed = inputs.reduce((a, x) => a + x.units, 0n);
      const total = d.keepAll ? consumed : (consumed * 9n) / 10n;
      const count = total < BigInt(d.outputs) ? Number(total) : d.outputs;
      const outputs = Array.from({ length: count }, (_, j) => {
        const each = total / BigInt(count);
        const units = j < count - 1 ? each : total - each * BigInt(count - 1);
        return { coinPub: `${prefix}-c${j}`, denomPubHash: `denom-${currency}-${units}`, value: amountOf(currency, units) };
      });
      const payload: Parameters<Wallet["recordRefresh"]>[0] = {
        inputs: inputs.map((x) => ({ coinPub: x.coinPub, amount: amountOf(currency, x.units) })),
        outputs,
      };
      if (d.namedRefresh) payload.refreshGroupId = `${prefix}-r`;
      for (const c of outputs) known.coins.push({ coinPub: c.coinPub, value: c.value, exchangeBaseUrl: first.exchangeBaseUrl });
      return { operation: d.op, payload };
    }
    case "abortWithdrawal": {
      if (known.groups.length === 0) return undefined;
      return { operation: d.op, payload: { withdrawalGroupId: known.groups[d.group % known.groups.length].withdrawalGroupId } };
    }
    default: {
      const never: never = d;
      throw new Error(`unknown draft ${JSON.stringify(never)}`);
    }
  }
}

function checkWorld(world: RequestWorld): void {
  if (world.exchanges.length === 0) throw new Error("a request world needs at least one exchange");
  if (world.etags !== undefined && world.etags.length === 0) throw new Error("a request world's etags, when given, must not be empty");
  const urls = new Set(world.exchanges.map((x) => x.url));
  for (const x of [...(world.coins ?? []), ...(world.withdrawalGroups ?? [])]) {
    if (!urls.has(x.exchangeBaseUrl)) throw new Error(`a request world's coins and groups must be at its exchanges; ${x.exchangeBaseUrl} is not one`);
  }
}

const knownOf = (world: RequestWorld): Known => ({ coins: [...(world.coins ?? [])], groups: [...(world.withdrawalGroups ?? [])] });

/**
 * One random valid request against `world` (see the top of requests.ts).
 * The ids it makes up are `${idPrefix}0-…`: unique within the request, not
 * across samples; for several requests on one wallet use requestsArb.
 * Operations that need a coin or group the world lacks are left out.
 */
export function requestArb(world: RequestWorld, opts: { operations?: readonly RequestOperation[] } = {}): fc.Arbitrary<WalletRequest> {
  checkWorld(world);
  const ops = (opts.operations ?? REQUEST_OPERATIONS).filter(
    (op) =>
      !(((op === "recordSpend" || op === "recordRefresh") && (world.coins ?? []).length === 0) ||
        (op === "abortWithdrawal" && (world.withdrawalGroups ?? []).length === 0)),
  );
  return draftArb(ops).map((d) => resolve(d, world, knownOf(world), 0)!);
}

/**
 * A random sequence of valid requests against `world`, meant to be applied
 * in order to one wallet: later requests may spend coins and use groups that
 * earlier ones created, and made-up ids are `${idPrefix}${position}-…`, so
 * they are unique by construction. A request that would need a coin or group
 * nobody knows yet is left out, so a sequence may be shorter than drawn.
 */
export function requestsArb(
  world: RequestWorld,
  opts: { operations?: readonly RequestOperation[]; minLength?: number; maxLength?: number } = {},
): fc.Arbitrary<WalletRequest[]> {
  checkWorld(world);
  return fc.array(draftArb(opts.operations ?? REQUEST_OPERATIONS), { minLength: opts.minLength ?? 0, maxLength: opts.maxLength ?? 20, size: "max" }).map((drafts) => {
    const known = knownOf(world);
    const out: WalletRequest[] = [];
    for (const [n, d] of drafts.entries()) {
      const r = resolve(d, world, known, n);
      if (r !== undefined) out.push(r);
    }
    return out;
  });
}

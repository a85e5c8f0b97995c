// A seeded, reproducible wallet history: several devices that add exchanges,
// fetch their /keys again as they rotate keys, see and accept new terms of
// service, withdraw groups of 5–50 coins, spend and refresh them, add and
// delete exchanges they never use, and merge each other's logs now and then.
//
// The generator keeps a small model of what each device knows (a vector clock
// over the devices' event counts), so every event it writes is one the
// engine's deciders would have written: a device spends only coins it knows
// and only what it believes is left; a coin is created once; every event names
// an exchange the device added. The one overspend it writes on purpose is a
// concurrent double spend: a device spends, in full, another device's coin
// that it has seen unspent, while the owner keeps spending it until a merge
// tells it otherwise (what restoring an old backup does). The engine must
// list those as conflicts.
import { encodeCrock, formatAmount, sha512, type KeysFactsData, type SharedDraft } from "./engine.ts";

// ---------------------------------------------------------------- seeded randomness

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  /** A 52-character Crockford id (32 random bytes), like a coin public key. */
  id52(): string;
}

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const u32 = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  return {
    next: () => u32() / 4294967296,
    int: (n) => Math.floor((u32() / 4294967296) * n),
    between: (lo, hi) => lo + Math.floor((u32() / 4294967296) * (hi - lo + 1)),
    id52() {
      for (let i = 0; i < 8; i++) view.setUint32(i * 4, u32());
      return encodeCrock(bytes);
    },
  };
}

/** A seed derived from a label, so each device and each use gets its own stream. */
export function seedOf(seed: number, label: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619) >>> 0;
  return h;
}

// ---------------------------------------------------------------- exchanges and their /keys

export interface Exchange {
  url: string;
  currency: string;
}

const CURRENCIES = ["KUDOS", "EUR", "CHF", "TESTKUDOS"];
/** Denomination values in cents, as a real exchange offers them. */
export const DENOM_CENTS = [10, 50, 100, 200, 500, 1_000, 2_000, 5_000];
const DAY_S = 86_400;
const BASE_S = 1_690_000_000;

export function exchange(i: number): Exchange {
  return { url: `https://ex${i}.example/`, currency: CURRENCIES[i % CURRENCIES.length] };
}

export const cents = (currency: string, c: number) =>
  formatAmount({ currency, value: Math.floor(c / 100), fraction: (c % 100) * 1_000_000 });

const crock = (label: string, bytes: number) => encodeCrock(sha512(label).subarray(0, bytes));

export function denomPubHash(ex: Exchange, valueCents: number, revision: number): string {
  return crock(`${ex.url} denom ${valueCents} ${revision}`, 64);
}

/**
 * The facts of the /keys an exchange serves at `revision`: every denomination
 * value in two key periods (the current one and the next), two signing keys,
 * as the test exchange in src/testing serves them. Each revision rotates keys.
 */
export function keysFacts(ex: Exchange, revision: number): KeysFactsData {
  const fee = `${ex.currency}:0.01`;
  const start = BASE_S + revision * 30 * DAY_S;
  const denominations: KeysFactsData["denominations"] = [];
  for (const period of [revision, revision + 1]) {
    const s = BASE_S + period * 30 * DAY_S;
    for (const v of DENOM_CENTS) {
      denominations.push({
        denomPubHash: denomPubHash(ex, v, period),
        cipher: "RSA",
        value: cents(ex.currency, v),
        feeWithdraw: fee,
        feeDeposit: fee,
        feeRefresh: fee,
        feeRefund: fee,
        stampStart: s,
        stampExpireWithdraw: s + 3650 * DAY_S,
        stampExpireDeposit: s + 3700 * DAY_S,
        stampExpireLegal: s + 7300 * DAY_S,
      });
    }
  }
  return {
    currency: ex.currency,
    masterPub: crock(`${ex.url} master`, 32),
    version: "23:0:6",
    reserveClosingDelayUs: 28 * DAY_S * 1_000_000,
    listIssueDate: start,
    denominations,
    signkeys: [0, 1].map((i) => ({
      key: crock(`${ex.url} signkey ${revision} ${i}`, 32),
      stampStart: start + i * 45 * DAY_S,
      stampExpire: start + (90 + i * 45) * DAY_S,
      stampEnd: start + 365 * DAY_S,
    })),
  };
}

// ---------------------------------------------------------------- the model

/** Exchanges devices withdraw from; others are only browsed (added, updated, deleted). */
const USED_EXCHANGES = 6;
const BROWSED_EXCHANGES = 6;

interface Coin {
  pub: string;
  owner: number;
  /** Seq of the event that created it. */
  createdSeq: number;
  ex: Exchange;
  valueCents: number;
  /** Seq of the owner's first spend of it (Infinity while unspent). */
  firstSpendSeq: number;
  foreignSpent: boolean;
  /** Cents left as the owner sees it, and its slot in the owner's live list (-1 when gone). */
  left: number;
  slot: number;
}

interface Device {
  index: number;
  id: string;
  rand: Rng;
  /** Vector clock over device indices: how many of each device's events this one holds. */
  known: number[];
  used: Exchange[];
  browsed: Set<number>;
  live: Coin[];
  /** Own coins in creation order (other devices pick from the prefix they know). */
  coins: Coin[];
  /** Spends of other devices' coins, in seq order, and how far this device has read each device's list. */
  foreignSpends: { seq: number; coin: Coin }[];
  cursors: number[];
  counter: number;
}

export type HistoryStep =
  | { kind: "append"; device: number; drafts: SharedDraft[] }
  /** `to` imports what `from` holds and it lacks. */
  | { kind: "merge"; from: number; to: number };

export interface HistoryOptions {
  seed: number;
  /** Device ids; with one device the history has no merges. */
  devices: string[];
  /** Events in all, over every device. */
  events: number;
  /** Append steps hold at most this many drafts (default 1,000). */
  maxBurst?: number;
}

/** Global state of the world the devices observe: key rotations and terms versions per exchange. */
interface World {
  keysRevision: Map<string, number>;
  tosVersion: Map<string, number>;
}

/**
 * The history as a stream of steps: bursts of drafts authored by one device,
 * and merges. The drafts of all append steps add up to `events`; with several
 * devices the last steps merge every device into device 0, which then holds
 * the whole history.
 */
export function* generateHistory(opts: HistoryOptions): Generator<HistoryStep> {
  const main = rng(seedOf(opts.seed, "history"));
  const maxBurst = opts.maxBurst ?? 1_000;
  const n = opts.devices.length;
  const world: World = { keysRevision: new Map(), tosVersion: new Map() };
  const devices: Device[] = opts.devices.map((id, index) => {
    const rand = rng(seedOf(opts.seed, `device ${id}`));
    const used: Exchange[] = [];
    const first = rand.int(USED_EXCHANGES);
    const count = 2 + rand.int(2);
    for (let k = 0; k < count; k++) used.push(exchange((first + k) % USED_EXCHANGES));
    return {
      index,
      id,
      rand,
      known: new Array(n).fill(0),
      used,
      browsed: new Set(),
      live: [],
      coins: [],
      foreignSpends: [],
      cursors: new Array(n).fill(0),
      counter: 0,
    };
  });

  let remaining = opts.events;
  const setUp = new Set<number>();
  while (remaining > 0) {
    const d = devices[n === 1 ? 0 : main.int(n)];
    const burst = Math.min(remaining, n === 1 ? maxBurst : main.between(Math.min(50, maxBurst), maxBurst));
    const drafts: SharedDraft[] = [];
    const emit = (draft: SharedDraft) => {
      if (drafts.length < burst) {
        drafts.push(draft);
        d.known[d.index]++;
      }
    };
    if (!setUp.has(d.index)) {
      setUp.add(d.index);
      for (const ex of d.used) addExchange(d, ex, world, emit);
    }
    while (drafts.length < burst) operate(d, devices, world, emit);
    remaining -= drafts.length;
    yield { kind: "append", device: d.index, drafts };
    if (n > 1 && remaining > 0 && main.next() < 0.25) {
      const from = main.int(n);
      const to = (from + 1 + main.int(n - 1)) % n;
      merge(devices[from], devices[to], devices);
      yield { kind: "merge", from, to };
    }
  }
  for (let from = 1; from < n; from++) {
    merge(devices[from], devices[0], devices);
    yield { kind: "merge", from, to: 0 };
  }
}

type Emit = (draft: SharedDraft) => void;

/** The seq the next event of `d` will get. */
const nextSeq = (d: Device) => d.known[d.index] + 1;

function addExchange(d: Device, ex: Exchange, world: World, emit: Emit) {
  emit({ type: "exchange-added", data: { url: ex.url, preset: false } });
  emit({ type: "exchange-keys-fetched", data: { url: ex.url, keys: keysFacts(ex, world.keysRevision.get(ex.url) ?? 0) } });
  offerTos(d, ex, world, emit, true);
}

function offerTos(d: Device, ex: Exchange, world: World, emit: Emit, accept: boolean) {
  const etag = `tos-v${world.tosVersion.get(ex.url) ?? 1}`;
  emit({ type: "exchange-tos-offered", data: { url: ex.url, etag, termsVersion: etag, languages: ["en", "de", "fr"] } });
  if (accept) emit({ type: "exchange-tos-accepted", data: { url: ex.url, etag } });
}

/** One request of `d`, chosen at random; may emit several drafts. */
function operate(d: Device, devices: Device[], world: World, emit: Emit) {
  const r = d.rand.next();
  if (d.live.length < 20 || (r < 0.025 && d.live.length < 2_000)) return withdraw(d, emit);
  if (r < 0.055) return refresh(d, emit);
  if (r < 0.059) {
    // An update: the exchange rotated its keys (or not) since the last fetch.
    const ex = d.used[d.rand.int(d.used.length)];
    if (d.rand.next() < 0.5) world.keysRevision.set(ex.url, (world.keysRevision.get(ex.url) ?? 0) + 1);
    return emit({ type: "exchange-keys-fetched", data: { url: ex.url, keys: keysFacts(ex, world.keysRevision.get(ex.url) ?? 0) } });
  }
  if (r < 0.061) {
    const ex = d.used[d.rand.int(d.used.length)];
    world.tosVersion.set(ex.url, (world.tosVersion.get(ex.url) ?? 1) + 1);
    return offerTos(d, ex, world, emit, d.rand.next() < 0.8);
  }
  if (r < 0.063) {
    // Browsing: an exchange added and looked at, later deleted; never used, so a plain delete.
    const i = USED_EXCHANGES + d.rand.int(BROWSED_EXCHANGES);
    const ex = exchange(i);
    if (d.browsed.delete(i)) return emit({ type: "exchange-deleted", data: { url: ex.url, purge: false } });
    d.browsed.add(i);
    emit({ type: "exchange-added", data: { url: ex.url, preset: false } });
    return emit({ type: "exchange-keys-fetched", data: { url: ex.url, keys: keysFacts(ex, world.keysRevision.get(ex.url) ?? 0) } });
  }
  if (r < 0.0635 && devices.length > 1 && foreignSpend(d, devices, emit)) return;
  spend(d, emit);
}

function withdraw(d: Device, emit: Emit) {
  const ex = d.used[d.rand.int(d.used.length)];
  const seq = nextSeq(d);
  const coins = [];
  let total = 0;
  for (let k = d.rand.between(5, 50); k > 0; k--) {
    const valueCents = DENOM_CENTS[d.rand.int(DENOM_CENTS.length)];
    const coin = newCoin(d, ex, valueCents, seq);
    total += valueCents;
    coins.push({ coinPub: coin.pub, denomPubHash: denomPubHash(ex, valueCents, 0), value: cents(ex.currency, valueCents) });
  }
  const data: Extract<SharedDraft, { type: "coins-withdrawn" }>["data"] = { url: ex.url, withdrawalGroupId: `${d.id}-wg${d.counter++}`, coins };
  if (d.rand.next() < 0.5) data.amount = cents(ex.currency, total);
  emit({ type: "coins-withdrawn", data });
}

function newCoin(d: Device, ex: Exchange, valueCents: number, seq: number): Coin {
  const coin: Coin = { pub: d.rand.id52(), owner: d.index, createdSeq: seq, ex, valueCents, firstSpendSeq: Infinity, foreignSpent: false, left: valueCents, slot: d.live.length };
  d.live.push(coin);
  d.coins.push(coin);
  return coin;
}

function dropLive(d: Device, c: Coin) {
  const last = d.live.pop()!;
  if (last !== c) {
    d.live[c.slot] = last;
    last.slot = c.slot;
  }
  c.slot = -1;
}

function spend(d: Device, emit: Emit) {
  const c = d.live[d.rand.int(d.live.length)];
  const amount = c.left === 1 || d.rand.next() < 0.5 ? c.left : 1 + d.rand.int(c.left - 1);
  if (c.firstSpendSeq === Infinity) c.firstSpendSeq = nextSeq(d);
  c.left -= amount;
  if (c.left === 0) dropLive(d, c);
  const n = d.counter++;
  emit({ type: "coin-spent", data: { spendId: `${d.id}-s${n}`, coinPub: c.pub, amount: cents(c.ex.currency, amount), purchaseId: `${d.id}-p${n >> 2}` } });
}

/** Consumes what is left of a coin; gives back one coin worth that minus a 1-cent fee. */
function refresh(d: Device, emit: Emit) {
  const c = d.live[d.rand.int(d.live.length)];
  const seq = nextSeq(d);
  if (c.firstSpendSeq === Infinity) c.firstSpendSeq = seq;
  const consumed = c.left;
  c.left = 0;
  dropLive(d, c);
  const outputs = [];
  if (consumed > 1) {
    const out = newCoin(d, c.ex, consumed - 1, seq);
    outputs.push({ coinPub: out.pub, denomPubHash: denomPubHash(c.ex, consumed - 1, 0), value: cents(c.ex.currency, consumed - 1) });
  }
  emit({
    type: "coins-refreshed",
    data: { refreshGroupId: `${d.id}-r${d.counter++}`, url: c.ex.url, inputs: [{ coinPub: c.pub, amount: cents(c.ex.currency, consumed) }], outputs },
  });
}

/** Spends in full a coin of another device that `d` has seen and not seen spent. False when none qualifies. */
function foreignSpend(d: Device, devices: Device[], emit: Emit): boolean {
  const owner = devices[(d.index + 1 + d.rand.int(devices.length - 1)) % devices.length];
  const seen = d.known[owner.index];
  // Owner coins are in creation order: the ones `d` knows are a prefix.
  let lo = 0;
  let hi = owner.coins.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (owner.coins[mid].createdSeq <= seen) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return false;
  const c = owner.coins[d.rand.int(lo)];
  if (c.foreignSpent || c.firstSpendSeq <= seen) return false;
  c.foreignSpent = true;
  d.foreignSpends.push({ seq: nextSeq(d), coin: c });
  const n = d.counter++;
  emit({ type: "coin-spent", data: { spendId: `${d.id}-s${n}`, coinPub: c.pub, amount: cents(c.ex.currency, c.valueCents), purchaseId: `${d.id}-p${n >> 2}` } });
  return true;
}

/** `to` learns everything `from` holds; coins of `to` that others spent stop being spendable. */
function merge(from: Device, to: Device, devices: Device[]) {
  for (let i = 0; i < devices.length; i++) to.known[i] = Math.max(to.known[i], from.known[i]);
  for (const author of devices) {
    if (author === to) continue;
    const list = author.foreignSpends;
    let k = to.cursors[author.index];
    for (; k < list.length && list[k].seq <= to.known[author.index]; k++) {
      const c = list[k].coin;
      if (c.owner === to.index && c.slot !== -1) dropLive(to, c);
    }
    to.cursors[author.index] = k;
  }
}

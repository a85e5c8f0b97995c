// A multi-device simulator: N real wallets (LMDB in a temp dir) that play a
// history (histories.ts): each device appends its requests, devices sync
// pairwise, some are offline for a while. The simulation remembers every coin
// and withdrawal group any device created, with the dot of the creating event,
// so law checks (laws.ts) can say what each replica must hold.
import { PROJECTIONS } from "../projections/index.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { amountSum } from "../codec/amounts.ts";
import type { VectorClock } from "../events/clock.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { isWalletError } from "../errors.ts";
import type { ImportResult } from "../merge/log-merge.ts";
import type { ExchangeListItem } from "../projections/exchanges.ts";
import { openWallet, type Balance, type Conflict, type Wallet } from "../wallet.ts";
import { deviceName, EXCHANGES, formatStep, isOffline, isSync, type History, type OpStep, type Step } from "./histories.ts";

/** Refusals a random request may legitimately meet; anything else is a bug and fails the run. */
export const EXPECTED_REFUSALS = new Set([
  "exchange-unknown",
  "exchange-suspended",
  "exchange-has-resources",
  "coin-unknown",
  "coin-overspent",
  "spend-duplicate",
  "withdrawal-group-unknown",
  "withdrawal-group-aborted",
  "withdrawal-group-purged",
]);

/** A coin some device created, with the dot of the creating event. */
export interface CoinFact {
  coinPub: string;
  url: string;
  currency: string;
  value: string;
  device: string;
  seq: number;
}

/** A withdrawal group some device created, with the dot of the creating event. */
export interface GroupFact {
  id: string;
  url: string;
  device: string;
  seq: number;
}

/** What one step of a history did ("ok dev0-w0 dev0-c1=KUDOS:1", "refused coin-overspent", "imported 3 (known 0)" …). */
export interface Outcome {
  step: Step;
  outcome: string;
}

export interface SimulationOptions {
  /** Parent directory for the wallets (default: a fresh temp dir, removed by close). */
  dir?: string;
  /** Simulated wall clock start (ms); each step advances it by one second. */
  startTime?: number;
  /** Keep every device's whole log after every step in `snapshots` (the older states a backup may bring back). */
  keepSnapshots?: boolean;
}

/** Called after each step of a history (after its snapshots are taken). */
export type OnStep = (i: number, sim: Simulation) => Promise<void>;

/** Coin values and shares are binary fractions, so these products are exact decimals. */
const shareOf = (c: CoinFact, share: number) => `${c.currency}:${Number(c.value.split(":")[1]) * share}`;

const covered = (clock: VectorClock, device: string, seq: number) => (clock[device] ?? 0) >= seq;

/**
 * N devices, each a real wallet (LMDB) in one directory, with a simulated
 * clock. Open with `Simulation.play(history)` (or `open` and `apply` steps
 * one by one); always `close()` it, which closes the wallets and removes a
 * temp directory it made.
 */
export class Simulation {
  /** Device i is wallets[i], with device id deviceName(i). */
  readonly wallets: Wallet[] = [];
  /** Every coin created on any device, by pub. */
  readonly coins = new Map<string, CoinFact>();
  /** Every withdrawal group created on any device, by id. */
  readonly groups = new Map<string, GroupFact>();
  /** Each step applied so far, with what it did. */
  readonly outcomes: Outcome[] = [];
  /** With `keepSnapshots`: each device's whole log after each step (devices in order, step after step). */
  readonly snapshots: WalletEvent[][] = [];
  private readonly extra: Wallet[] = [];
  private readonly extraIds = new Set<string>();
  private readonly keepSnapshots: boolean;
  private readonly counters: number[] = [];
  private readonly offlineUntil: number[] = [];
  private stepNo = 0;
  private time: number;
  private readonly ownDir: boolean;

  private constructor(readonly dir: string, ownDir: boolean, startTime: number, keepSnapshots: boolean) {
    this.ownDir = ownDir;
    this.time = startTime;
    this.keepSnapshots = keepSnapshots;
  }

  /** Opens `devices` fresh wallets dev0 … dev{n-1}. */
  static async open(devices: number, opts: SimulationOptions = {}): Promise<Simulation> {
    const own = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "wallet-sim-"));
    const sim = new Simulation(dir, own, opts.startTime ?? Date.UTC(2025, 0, 15), opts.keepSnapshots === true);
    try {
      for (let i = 0; i < devices; i++) {
        sim.wallets.push(await openWallet({ path: join(dir, deviceName(i)), deviceId: deviceName(i), now: sim.now }));
        sim.counters.push(0);
        sim.offlineUntil.push(0);
      }
    } catch (e) {
      await sim.close();
      throw e;
    }
    return sim;
  }

  /** Runs a history in a fresh simulation; the caller closes it. */
  static async play(h: History, opts: SimulationOptions & { onStep?: OnStep } = {}): Promise<Simulation> {
    const sim = await Simulation.open(h.devices, opts);
    try {
      await sim.run(h.steps, opts.onStep);
    } catch (e) {
      await sim.close();
      throw e;
    }
    return sim;
  }

  /** The simulated clock the wallets use. */
  readonly now = (): number => this.time;

  /** An extra wallet (a merge target, a restored device) living in this simulation's directory, closed with it. */
  async openWallet(deviceId: string): Promise<Wallet> {
    const w = await openWallet({ path: join(this.dir, `extra-${deviceId}-${this.extra.length}`), deviceId, now: this.now });
    this.extra.push(w);
    this.extraIds.add(deviceId);
    return w;
  }

  /** `base` if no extra wallet took that device id yet, else `base2`, `base3` …: a device that authors events needs an id of its own. */
  freshDeviceId(base: string): string {
    let id = base;
    for (let k = 2; this.extraIds.has(id); k++) id = `${base}${k}`;
    return id;
  }

  /** Applies the steps in order. */
  async run(steps: Step[], onStep?: OnStep): Promise<void> {
    for (let i = 0; i < steps.length; i++) {
      await this.apply(steps[i]);
      if (onStep) await onStep(i, this);
    }
  }

  /** Applies one step; an unexpected refusal or error throws, with the steps so far. */
  async apply(step: Step): Promise<void> {
    const i = this.stepNo++;
    this.time += 1000;
    let outcome: string;
    try {
      outcome = await this.applyInner(step, i);
    } catch (e) {
      this.outcomes.push({ step, outcome: `THREW ${describeError(e)}` });
      const err = new Error(`step ${i} (${formatStep(step)}) failed unexpectedly: ${describeError(e)}\n${this.describe()}`);
      (err as Error & { cause?: unknown }).cause = e;
      throw err;
    }
    this.outcomes.push({ step, outcome });
    if (this.keepSnapshots) for (const w of this.wallets) this.snapshots.push(await w.exportEvents());
  }

  private async applyInner(step: Step, i: number): Promise<string> {
    if (isOffline(step)) {
      this.offlineUntil[step.offline] = Math.max(this.offlineUntil[step.offline], i + 1 + step.steps);
      return "offline";
    }
    if (isSync(step)) {
      if (this.isOffline(step.from, i) || this.isOffline(step.to, i)) return "skipped (offline)";
      const r = await this.sync(step.from, step.to);
      return `imported ${r.added} (known ${r.known})`;
    }
    try {
      return await this.request(step);
    } catch (e) {
      if (isWalletError(e) && EXPECTED_REFUSALS.has(e.code)) return `refused ${e.code}`;
      throw e;
    }
  }

  private isOffline(d: number, i: number): boolean {
    return i < this.offlineUntil[d];
  }

  private nextId(d: number, kind: string): string {
    return `${deviceName(d)}-${kind}${this.counters[d]++}`;
  }

  /** Live coins the device holds, sorted by pub. */
  async liveCoins(d: number): Promise<{ fact: CoinFact; remaining: string }[]> {
    const w = this.wallets[d];
    const clock = await w.getVectorClock();
    const out: { fact: CoinFact; remaining: string }[] = [];
    for (const fact of [...this.coins.values()].sort((a, b) => (a.coinPub < b.coinPub ? -1 : 1))) {
      if (!covered(clock, fact.device, fact.seq)) continue;
      try {
        out.push({ fact, remaining: (await w.getCoin({ coinPub: fact.coinPub })).remaining });
      } catch (e) {
        if (!(isWalletError(e) && e.code === "coin-unknown")) throw e;
      }
    }
    return out;
  }

  private async knownGroups(d: number): Promise<GroupFact[]> {
    const clock = await this.wallets[d].getVectorClock();
    return [...this.groups.values()].filter((g) => covered(clock, g.device, g.seq)).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Seq of the event the last request appended, or undefined when it appended nothing. */
  private async appended(d: number, before: number): Promise<number | undefined> {
    const seq = (await this.wallets[d].getVectorClock())[deviceName(d)] ?? 0;
    return seq > before ? seq : undefined;
  }

  private async request(step: OpStep): Promise<string> {
    const d = step.device;
    const w = this.wallets[d];
    const dev = deviceName(d);
    const before = (await w.getVectorClock())[dev] ?? 0;
    const done = async () => ((await this.appended(d, before)) === undefined ? "no-op" : "ok");
    switch (step.op) {
      case "addExchange":
        await w.addExchange({ exchangeBaseUrl: EXCHANGES[step.args.ex].url, preset: step.args.preset });
        return done();
      case "setExchangeTosAccepted":
        await w.setExchangeTosAccepted({ exchangeBaseUrl: EXCHANGES[step.args.ex].url, etag: step.args.etag });
        return done();
      case "setExchangeTosForgotten":
        await w.setExchangeTosForgotten({ exchangeBaseUrl: EXCHANGES[step.args.ex].url });
        return done();
      case "setExchangeSuspended":
        await w.setExchangeSuspended({ exchangeBaseUrl: EXCHANGES[step.args.ex].url, suspended: step.args.suspended });
        return done();
      case "deleteExchange":
        await w.deleteExchange({ exchangeBaseUrl: EXCHANGES[step.args.ex].url, purge: step.args.purge });
        return done();
      case "recordWithdrawal": {
        const { ex, group, coins, pending } = step.args;
        const known = group === null ? [] : await this.knownGroups(d);
        const existing = known.length > 0 ? known[group! % known.length] : undefined;
        const url = existing?.url ?? EXCHANGES[ex].url;
        const currency = EXCHANGES.find((x) => x.url === url)!.currency;
        const groupId = existing?.id ?? this.nextId(d, "w");
        const newCoins = coins.map((v) => ({
          coinPub: this.nextId(d, "c"),
          denomPubHash: `denom-${currency}-${v}`,
          value: `${currency}:${v}`,
        }));
        const values = newCoins.map((c) => c.value);
        const extra = pending ?? (coins.length === 0 ? "1" : null);
        const req = { exchangeBaseUrl: url, withdrawalGroupId: groupId, coins: newCoins } as Parameters<Wallet["recordWithdrawal"]>[0];
        if (extra !== null) req.amount = amountSum(currency, [...values, `${currency}:${extra}`]);
        await w.recordWithdrawal(req);
        const seq = (await this.appended(d, before))!;
        if (!existing) this.groups.set(groupId, { id: groupId, url, device: dev, seq });
        for (const c of newCoins) this.coins.set(c.coinPub, { coinPub: c.coinPub, url, currency, value: c.value, device: dev, seq });
        return `ok ${groupId} ${newCoins.map((c) => `${c.coinPub}=${c.value}`).join(" ")}`;
      }
      case "recordSpend": {
        const live = await this.liveCoins(d);
        if (live.length === 0) return "skipped (no coin)";
        const { fact } = live[step.args.coin % live.length];
        const spendId = step.args.spendId ?? this.nextId(d, "s");
        await w.recordSpend({ coinPub: fact.coinPub, amount: shareOf(fact, step.args.share), spendId });
        return `${await done()} ${spendId} on ${fact.coinPub}`;
      }
      case "recordRefresh": {
        const live = await this.liveCoins(d);
        if (live.length === 0) return "skipped (no coin)";
        const { fact } = live[step.args.coin % live.length];
        const amount = shareOf(fact, step.args.share);
        const share = String(Number(amount.split(":")[1]) / Math.max(1, step.args.outputs));
        const outputs = Array.from({ length: step.args.outputs }, () => ({
          coinPub: this.nextId(d, "c"),
          denomPubHash: `denom-${fact.currency}-${share}`,
          value: `${fact.currency}:${share}`,
        }));
        const refreshGroupId = this.nextId(d, "r");
        await w.recordRefresh({ refreshGroupId, inputs: [{ coinPub: fact.coinPub, amount }], outputs });
        const seq = (await this.appended(d, before))!;
        for (const c of outputs) this.coins.set(c.coinPub, { coinPub: c.coinPub, url: fact.url, currency: fact.currency, value: c.value, device: dev, seq });
        return `ok ${refreshGroupId} from ${fact.coinPub} → ${outputs.map((c) => c.coinPub).join(" ") || "nothing"}`;
      }
      case "abortWithdrawal": {
        const known = await this.knownGroups(d);
        if (known.length === 0) return "skipped (no group)";
        const g = known[step.args.group % known.length];
        await w.abortWithdrawal({ withdrawalGroupId: g.id });
        return `${await done()} ${g.id}`;
      }
    }
  }

  /** `to` imports what `from` has and it lacks. */
  async sync(from: number, to: number): Promise<ImportResult> {
    return syncWallets(this.wallets[from], this.wallets[to]);
  }

  /**
   * Every device imports from every other, in the given order of (from, to)
   * pairs (default: all ordered pairs). One pass over all pairs suffices:
   * each device imports every other device's own events, and sets only grow.
   */
  async fullSync(pairs?: [number, number][]): Promise<void> {
    const n = this.wallets.length;
    const order = pairs ?? allPairs(n);
    for (const [from, to] of order) await this.sync(from, to);
  }

  /** The history as applied, with what each step did. */
  describe(): string {
    const lines = this.outcomes.map((o, i) => `  ${String(i).padStart(3)}: ${formatStep(o.step).padEnd(60)} → ${o.outcome}`);
    return `Simulation of ${this.wallets.length} devices:\n${lines.join("\n")}`;
  }

  /** Appends describe() to an error's message, once: a failure then shows the history that led to it. */
  explain(e: unknown): unknown {
    if (e instanceof Error && !explained.has(e)) {
      explained.add(e);
      e.message += `\n\n${this.describe()}`;
    }
    return e;
  }

  async close(): Promise<void> {
    for (const w of [...this.wallets, ...this.extra]) await w.close();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const explained = new WeakSet<Error>();

/** Every ordered pair (from, to) of n devices, grouped by receiver. */
export function allPairs(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let to = 0; to < n; to++) for (let from = 0; from < n; from++) if (from !== to) out.push([from, to]);
  return out;
}

/** `to` imports what `from` has and `to` lacks. */
export async function syncWallets(from: Wallet, to: Wallet): Promise<ImportResult> {
  const since = await to.getVectorClock();
  return to.importEvents(await from.exportEvents({ since }));
}

/** An error as one line: "WalletError coin-overspent: …". */
export function describeError(e: unknown): string {
  if (isWalletError(e)) return `WalletError ${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// ---------------------------------------------------------------- observations

/** Tables folded from device-local events (update state, backup providers, what merged backups said), by the projections' own marks. */
const LOCAL_TABLES = new Set(
  PROJECTIONS.flatMap((p) =>
    Object.entries(p.tables)
      .filter(([, codec]) => codec.local === true)
      .map(([name]) => name),
  ),
);

/** Projection records shared by every replica: device-local ones left out. */
export async function sharedRecords(w: Wallet): Promise<{ key: (string | number)[]; value: unknown }[]> {
  return (await w.dumpProjections()).filter((r) => !LOCAL_TABLES.has(r.key[0] as string));
}

/** What observe() reports; replicas holding one event set must agree on all of it. */
export interface Observation {
  clock: VectorClock;
  exchanges: ExchangeListItem[];
  balances: Balance[];
  conflicts: Conflict[];
  /** getExchangeResources per asked URL, or the refusal's code. */
  resources: Record<string, unknown>;
  records: { key: (string | number)[]; value: unknown }[];
}

/**
 * What the public API says about a wallet, plus its shared projection records
 * (device-local update state left out). `exchangeUrls`: whose resources to ask
 * for (default: EXCHANGES).
 */
export async function observe(w: Wallet, exchangeUrls: Iterable<string> = EXCHANGES.map((x) => x.url)): Promise<Observation> {
  const resources: Record<string, unknown> = {};
  for (const url of exchangeUrls) {
    try {
      resources[url] = await w.getExchangeResources({ exchangeBaseUrl: url });
    } catch (e) {
      if (!isWalletError(e)) throw e;
      resources[url] = { error: e.code };
    }
  }
  return {
    clock: await w.getVectorClock(),
    exchanges: (await w.listExchanges()).exchanges,
    balances: (await w.getBalances()).balances,
    conflicts: (await w.listConflicts()).conflicts,
    resources,
    records: await sharedRecords(w),
  };
}

/** What each coin the wallet holds has left; coins it does not hold (unknown or removed) are absent. */
export async function coinStates(w: Wallet, pubs: Iterable<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const coinPub of pubs) {
    try {
      out.set(coinPub, (await w.getCoin({ coinPub })).remaining);
    } catch (e) {
      if (!(isWalletError(e) && e.code === "coin-unknown")) throw e;
    }
  }
  return out;
}

// ---------------------------------------------------------------- event sets

/**
 * A causal linearization of `events` (a causally closed set): at each step
 * one of the events whose predecessor and deps are already placed, chosen by
 * the next number of `choices` (modulo; cycles when exhausted).
 */
export function linearize(events: WalletEvent[], choices: number[]): WalletEvent[] {
  const byDevice = new Map<string, WalletEvent[]>();
  for (const e of events) {
    let q = byDevice.get(e.device);
    if (!q) byDevice.set(e.device, (q = []));
    q.push(e);
  }
  for (const q of byDevice.values()) q.sort((a, b) => a.seq - b.seq);
  const clock: VectorClock = {};
  const out: WalletEvent[] = [];
  const devices = [...byDevice.keys()].sort();
  for (let k = 0; out.length < events.length; k++) {
    const ready: WalletEvent[] = [];
    for (const d of devices) {
      const next = byDevice.get(d)![clock[d] ?? 0];
      if (next && Object.entries(next.deps).every(([dd, s]) => (clock[dd] ?? 0) >= s)) ready.push(next);
    }
    if (ready.length === 0) throw new Error("linearize: the event set is not causally closed");
    const e = ready[choices.length === 0 ? 0 : choices[k % choices.length] % ready.length];
    out.push(e);
    clock[e.device] = e.seq;
  }
  return out;
}

/** True when every event's deps and same-device predecessor come before it. */
export function isCausallyOrdered(events: WalletEvent[], base: VectorClock = {}): boolean {
  const clock: VectorClock = { ...base };
  for (const e of events) {
    if ((clock[e.device] ?? 0) !== e.seq - 1) return false;
    if (!Object.entries(e.deps).every(([d, s]) => (clock[d] ?? 0) >= s)) return false;
    clock[e.device] = e.seq;
  }
  return true;
}

/** "device:seq". */
export const dotOf = (e: { device: string; seq: number }) => `${e.device}:${e.seq}`;

// The merge laws of the design (DESIGN.md, "Merge: the CRDT rules") as plain
// async functions: each one reads wallets (and, where it needs to know what
// was created where, a Simulation), and throws an AssertionError naming the
// law, with a diff or the offending coin, exchange or event, when it does not
// hold. They need no test framework; call them from a fast-check property in
// your own vitest suite. Our own property tests (test/merge-laws.test.ts) are
// built from them.
import fc from "fast-check";
import { amountCmp, amountSum } from "../codec/amounts.ts";
import { seqOf, type VectorClock } from "../events/clock.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { isWalletError } from "../errors.ts";
import type { Wallet } from "../wallet.ts";
import { lawAssert, lawAssertEqual, lawAssertSameJson, lawFailure } from "./assertions.ts";
import { EXCHANGES, type History } from "./histories.ts";
import {
  coinStates,
  dotOf,
  isCausallyOrdered,
  linearize,
  observe,
  sharedRecords,
  Simulation,
  type CoinFact,
  type OnStep,
  type SimulationOptions,
} from "./simulator.ts";

const covers = (clock: VectorClock, device: string, seq: number) => seqOf(clock, device) >= seq;

async function mergeInto(w: Wallet, ...sets: WalletEvent[][]): Promise<Wallet> {
  for (const s of sets) await w.importEvents(s);
  return w;
}

/** Runs a check on a simulation; a failure gets the simulation's step-by-step history appended. */
async function explained<T>(sim: Simulation, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    throw sim.explain(e);
  }
}

/**
 * Plays `h` in a fresh simulation, runs `body` on it, and closes it; a
 * failure carries the step-by-step outcomes of the history.
 */
export async function withSimulation<T>(
  h: History,
  body: (sim: Simulation) => Promise<T>,
  opts: SimulationOptions & { onStep?: OnStep } = {},
): Promise<T> {
  const sim = await Simulation.play(h, opts);
  try {
    return await body(sim);
  } catch (e) {
    throw sim.explain(e);
  } finally {
    await sim.close();
  }
}

/** Exchange URLs the wallets list or their logs name, with EXCHANGES: whose resources to compare. */
async function exchangeUrlsOf(wallets: Wallet[]): Promise<string[]> {
  const urls = new Set<string>(EXCHANGES.map((x) => x.url));
  for (const w of wallets) for (const x of (await w.listExchanges()).exchanges) urls.add(x.exchangeBaseUrl);
  return [...urls].sort();
}

// ---------------------------------------------------------------- convergence and rebuild

/**
 * Convergence: replicas holding the same event set have deep-equal
 * projections (clock, exchanges, balances, conflicts, resources and every
 * shared projection record), whatever the arrival order. Call it after the
 * wallets have synced; each is compared with the first.
 */
export async function checkConvergence(wallets: Wallet[], opts: { exchangeUrls?: string[] } = {}): Promise<void> {
  if (wallets.length < 2) throw new Error("checkConvergence needs at least two wallets");
  const urls = opts.exchangeUrls ?? (await exchangeUrlsOf(wallets));
  const first = await observe(wallets[0], urls);
  for (const w of wallets.slice(1)) {
    lawAssertEqual(await observe(w, urls), first, "convergence", `${w.deviceId} differs from ${wallets[0].deviceId} (each line: ${w.deviceId}, expected ${wallets[0].deviceId})`);
  }
}

/** Incremental projection equals rebuild: folding the wallet's log again gives the records it holds. `when` goes into the message. */
export async function checkIncrementalEqualsRebuild(wallet: Wallet, when = ""): Promise<void> {
  const incremental = await wallet.dumpProjections();
  await wallet.rebuild();
  lawAssertEqual(
    await wallet.dumpProjections(),
    incremental,
    "incremental projection equals rebuild",
    `${wallet.deviceId}${when ? ` ${when}` : ""}: the rebuilt records differ (each line: rebuilt, expected incremental)`,
  );
}

// ---------------------------------------------------------------- merge algebra

/** Merge is commutative: devices 0 and 1's logs merged in either order give the same projections. */
export async function checkMergeCommutative(sim: Simulation): Promise<void> {
  await explained(sim, async () => {
    const a = await sim.wallets[0].exportEvents();
    const b = await sim.wallets[1].exportEvents();
    const ab = await mergeInto(await sim.openWallet("merge-ab"), a, b);
    const ba = await mergeInto(await sim.openWallet("merge-ba"), b, a);
    lawAssertEqual(await observe(ba), await observe(ab), "merge is commutative", "b∪a differs from a∪b (each line: b∪a, expected a∪b)");
  });
}

/** Merge is associative: (a ∪ b) ∪ c and a ∪ (b ∪ c) of devices 0, 1, 2 give the same projections. */
export async function checkMergeAssociative(sim: Simulation): Promise<void> {
  if (sim.wallets.length < 3) throw new Error("checkMergeAssociative needs a simulation of at least three devices");
  await explained(sim, async () => {
    const [a, b, c] = await Promise.all(sim.wallets.slice(0, 3).map((w) => w.exportEvents()));
    const left = await mergeInto(await sim.openWallet("merge-ab"), a, b);
    await left.importEvents(c);
    const bc = await mergeInto(await sim.openWallet("merge-bc"), b, c);
    const right = await mergeInto(await sim.openWallet("merge-a-bc"), a, await bc.exportEvents());
    lawAssertEqual(await observe(right), await observe(left), "merge is associative", "a∪(b∪c) differs from (a∪b)∪c (each line: a∪(b∪c), expected (a∪b)∪c)");
  });
}

/**
 * Merge is idempotent: importing again what a wallet holds adds nothing and
 * changes no record, no log entry, no answer; device 0 importing its own log
 * is the same no-op.
 */
export async function checkMergeIdempotent(sim: Simulation): Promise<void> {
  const law = "merge is idempotent";
  await explained(sim, async () => {
    const a = await sim.wallets[0].exportEvents();
    const b = await sim.wallets[1].exportEvents();
    const m = await mergeInto(await sim.openWallet("merge"), a, b);
    const before = { view: await observe(m), dump: await m.dumpProjections(), log: await m.exportEvents() };
    for (const [name, set] of [["a", a], ["b", b], ["a∪b", before.log]] as const) {
      lawAssertEqual(await m.importEvents(set), { added: 0, known: set.length }, law, `importing ${name} again into a∪b`);
    }
    lawAssertEqual(await m.dumpProjections(), before.dump, law, "records changed by a repeated import (each line: after, expected before)");
    lawAssertEqual(await m.exportEvents(), before.log, law, "log changed by a repeated import (each line: after, expected before)");
    lawAssertEqual(await observe(m), before.view, law, "answers changed by a repeated import (each line: after, expected before)");
    const own = await sim.wallets[0].dumpProjections();
    lawAssertEqual(await sim.wallets[0].importEvents(a), { added: 0, known: a.length }, law, `${sim.wallets[0].deviceId} importing its own log`);
    lawAssertEqual(await sim.wallets[0].dumpProjections(), own, law, `${sim.wallets[0].deviceId}'s records changed by importing its own log (each line: after, expected before)`);
  });
}

/** How a causal linearization of one event set is delivered: choices pick among the ready events, chunks cut it into import batches. */
export interface Delivery {
  /** At each step, which ready event comes next (modulo; cycles). */
  choices: number[];
  /** Batch sizes (cycles). */
  chunks: number[];
  /** Each batch handed over in reverse (the import must sort it). */
  reversed: boolean;
}

/** Random deliveries for checkLinearizations. */
export const deliveryArb: fc.Arbitrary<Delivery> = fc.record({
  choices: fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
  chunks: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
  reversed: fc.boolean(),
});

/**
 * Any causal linearization of one event set folds to the same projection:
 * device 0's log, imported in one batch into a fresh wallet, is the
 * reference (device 0 itself must equal it); each delivery of it, in
 * causally closed batches, must give the reference again.
 */
export async function checkLinearizations(sim: Simulation, deliveries: Delivery[]): Promise<void> {
  const law = "any causal linearization folds to the same projection";
  await explained(sim, async () => {
    const all = await sim.wallets[0].exportEvents();
    const reference = await observe(await mergeInto(await sim.openWallet("reference"), all));
    lawAssertEqual(await observe(sim.wallets[0]), reference, law, `${sim.wallets[0].deviceId} differs from its log imported in one batch (each line: ${sim.wallets[0].deviceId}, expected imported)`);
    for (const [k, d] of deliveries.entries()) {
      const order = linearize(all, d.choices);
      lawAssert(isCausallyOrdered(order), law, `linearize gave an order that is not causal: ${order.map(dotOf).join(" ")}`);
      const w = await sim.openWallet(`linear${k}`);
      // Each chunk is causally closed with what came before; inside a chunk the import sorts.
      for (let at = 0, c = 0; at < order.length; c++) {
        const size = d.chunks[c % d.chunks.length];
        const chunk = order.slice(at, at + size);
        at += size;
        await w.importEvents(d.reversed ? chunk.reverse() : chunk);
      }
      lawAssertEqual(await observe(w), reference, law, `order ${order.map(dotOf).join(" ")} (each line: this order, expected reference)`);
    }
  });
}

// ---------------------------------------------------------------- coins

/** Per coin the wallet has seen created: its remaining amount, or "removed". */
export async function coinView(w: Wallet, coins: Iterable<CoinFact>): Promise<Map<string, string>> {
  const clock = await w.getVectorClock();
  const known = [...coins].filter((c) => covers(clock, c.device, c.seq));
  const live = await coinStates(w, known.map((c) => c.coinPub));
  return new Map(known.map((c) => [c.coinPub, live.get(c.coinPub) ?? "removed"]));
}

/** A coin gone stays gone and a coin's remaining value never grows, from `before` to `after` (coinView maps). */
export function checkNotGrown(before: Map<string, string>, after: Map<string, string>, what: string): void {
  const law = "a spent coin is never resurrected";
  for (const [pub, b] of before) {
    const a = after.get(pub);
    lawAssert(a !== undefined, law, `${what}: coin ${pub} was ${b}, now unknown`);
    if (b === "removed") {
      lawAssert(a === "removed", law, `${what}: removed coin ${pub} came back with ${a}`);
    } else if (a !== "removed") {
      lawAssert(amountCmp(a, b) <= 0, law, `${what}: coin ${pub} grew from ${b} to ${a}`);
    }
  }
}

/** Which older logs are merged where, and which one a restored device starts from (indices into sim.snapshots, modulo). */
export interface ResurrectionPlan {
  merges: { snapshot: number; target: number }[];
  restoredFrom: number;
}

/** Random plans for checkNoResurrection on a simulation of `devices` devices. */
export function resurrectionPlanArb(devices: number): fc.Arbitrary<ResurrectionPlan> {
  return fc.record({
    merges: fc.array(fc.record({ snapshot: fc.nat(), target: fc.nat({ max: devices - 1 }) }), { minLength: 1, maxLength: 4 }),
    restoredFrom: fc.nat(),
  });
}

/**
 * A spent coin is never resurrected: merging an older log (a snapshot the
 * simulation kept, see `keepSnapshots`) into a device never brings a removed
 * coin back nor gives a coin value back; nor does merging the log of a device
 * restored from an old backup that spent what it believed was left.
 * Opens one extra device that authors events ("restored").
 */
export async function checkNoResurrection(sim: Simulation, plan: ResurrectionPlan): Promise<void> {
  const snapshots = sim.snapshots;
  if (snapshots.length === 0) throw new Error("checkNoResurrection needs a simulation opened with keepSnapshots that played at least one step");
  await explained(sim, async () => {
    const coins = () => sim.coins.values();
    for (const { snapshot, target } of plan.merges) {
      const w = sim.wallets[target % sim.wallets.length];
      const before = await coinView(w, coins());
      await w.importEvents(snapshots[snapshot % snapshots.length]);
      checkNotGrown(before, await coinView(w, coins()), `${w.deviceId} importing an older log`);
    }
    // A device restored from an old backup spends what it believes is left, then merges back.
    const old = snapshots[plan.restoredFrom % snapshots.length];
    const restored = await mergeInto(await sim.openWallet(sim.freshDeviceId("restored")), old);
    for (const [pub, left] of await coinView(restored, coins())) {
      if (left === "removed" || amountCmp(left, `${left.split(":")[0]}:0`) === 0) continue;
      try {
        await restored.recordSpend({ coinPub: pub, amount: left });
      } catch (e) {
        if (!(isWalletError(e) && e.code === "exchange-suspended")) throw e;
      }
    }
    const restoredLog = await restored.exportEvents();
    for (const w of sim.wallets) {
      const before = await coinView(w, coins());
      await w.importEvents(restoredLog);
      checkNotGrown(before, await coinView(w, coins()), `${w.deviceId} merging the restored device`);
    }
  });
}

/**
 * Double spends are listed, not lost: every live coin whose spends exceed its
 * value is listed as a conflict and has nothing left, and no other coin is
 * listed.
 */
export async function checkConflictsListed(wallet: Wallet): Promise<void> {
  const law = "a double spend is a listed conflict";
  const conflicts = new Set((await wallet.listConflicts()).conflicts.map((c) => c.coinPub));
  for (const { key, value } of await sharedRecords(wallet)) {
    if (key[0] !== "coin") continue;
    const c = value as { coinPub: string; value: string; removed: boolean; spends: Record<string, { amount: string }> };
    if (c.removed) continue;
    const currency = c.value.split(":")[0];
    const spent = amountSum(currency, Object.values(c.spends).map((s) => s.amount));
    const over = amountCmp(spent, c.value) > 0;
    lawAssert(
      conflicts.has(c.coinPub) === over,
      law,
      `${wallet.deviceId}: coin ${c.coinPub} spent ${spent} of ${c.value} is ${conflicts.has(c.coinPub) ? "" : "not "}listed as a conflict`,
    );
    if (over) {
      const remaining = (await wallet.getCoin({ coinPub: c.coinPub })).remaining;
      lawAssert(remaining === `${currency}:0`, law, `${wallet.deviceId}: double-spent coin ${c.coinPub} has ${remaining} left`);
    }
  }
}

/**
 * No coin is lost: a coin whose creation a wallet has seen is gone from it
 * only if a purge of its exchange in that wallet's log observed the creation
 * (and then it is gone); a coin it has not seen is absent.
 */
export async function checkNoLoss(sim: Simulation): Promise<void> {
  await explained(sim, async () => {
    for (const w of sim.wallets) {
      const clock = await w.getVectorClock();
      const purges = (await w.exportEvents()).filter(
        (e) => e.type === "exchange-deleted" && (e.data as { purge: boolean }).purge,
      ) as (WalletEvent & { data: { url: string } })[];
      const states = await coinStates(w, sim.coins.keys());
      for (const coin of sim.coins.values()) {
        const present = states.has(coin.coinPub);
        if (!covers(clock, coin.device, coin.seq)) {
          lawAssert(!present, "no coin is lost", `${w.deviceId}: holds coin ${coin.coinPub} without having seen its creation ${coin.device}:${coin.seq}`);
          continue;
        }
        // Only a purge removes coins, and only those whose creation it had seen.
        const purgedBy = purges.filter((d) => d.data.url === coin.url && covers(d.deps, coin.device, coin.seq));
        lawAssert(
          present === (purgedBy.length === 0),
          "no coin is lost",
          `${w.deviceId}: coin ${coin.coinPub} ${present ? "present" : "absent"}; purges observing it: ${purgedBy.map(dotOf).join(", ") || "none"}`,
        );
      }
    }
  });
}

/**
 * Balances are the sum of what live coins have left: per currency, what
 * getBalances says is available equals the sum over `coinPubs` the wallet
 * holds (default: every coin its log ever created), and every currency of a
 * held coin has a balance.
 */
export async function checkBalances(wallet: Wallet, coinPubs?: Iterable<string>): Promise<void> {
  const law = "balances are the sum of what live coins have left";
  const states = await coinStates(wallet, coinPubs ?? coinPubsOf(await wallet.exportEvents()));
  const byCurrency = new Map<string, string[]>();
  for (const left of states.values()) {
    const cur = left.split(":")[0];
    byCurrency.set(cur, [...(byCurrency.get(cur) ?? []), left]);
  }
  const balances = (await wallet.getBalances()).balances;
  for (const b of balances) {
    const sum = amountSum(b.currency, byCurrency.get(b.currency) ?? []);
    lawAssert(b.available === sum, law, `${wallet.deviceId} ${b.currency}: balance ${b.available}, coins have ${sum} left`);
  }
  for (const cur of byCurrency.keys()) {
    lawAssert(balances.some((b) => b.currency === cur), law, `${wallet.deviceId}: no balance for ${cur}, which its coins hold`);
  }
}

/** Every coin pub a log creates (withdrawals and refresh outputs). */
export function coinPubsOf(events: WalletEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const d = e.data as { coins?: { coinPub: string }[]; outputs?: { coinPub: string }[] };
    if (e.type === "coins-withdrawn") out.push(...(d.coins ?? []).map((c) => c.coinPub));
    if (e.type === "coins-refreshed") out.push(...(d.outputs ?? []).map((c) => c.coinPub));
  }
  return out;
}

// ---------------------------------------------------------------- exchanges

/** Join of the causal pasts of every delete of `url`: what the deletes observed. */
function removedClock(log: WalletEvent[], url: string): VectorClock {
  const out: VectorClock = {};
  for (const e of log) {
    if (e.type !== "exchange-deleted" || (e.data as { url: string }).url !== url) continue;
    for (const [d, s] of Object.entries(e.deps)) out[d] = Math.max(seqOf(out, d), s);
  }
  return out;
}

/**
 * A delete removes an exchange entry only when it observed every
 * contribution to it (add-wins), and the entry status is the join of the
 * surviving contributions (preset < ephemeral < used), from the wallet's own
 * log. `exchangeUrls`: which exchanges to check (default: EXCHANGES and every
 * one the log names).
 */
export async function checkAddWins(wallet: Wallet, exchangeUrls?: string[]): Promise<void> {
  const log = await wallet.exportEvents();
  const urls = exchangeUrls ?? [...new Set([...EXCHANGES.map((x) => x.url), ...urlsOf(log)])];
  const listed = new Map((await wallet.listExchanges()).exchanges.map((x) => [x.exchangeBaseUrl, x.exchangeEntryStatus]));
  for (const url of urls) {
    const removed = removedClock(log, url);
    const level = (e: WalletEvent): "preset" | "ephemeral" | "used" | "touched" | undefined => {
      const d = e.data as { url?: string; preset?: boolean };
      if (d.url !== url || covers(removed, e.device, e.seq)) return undefined;
      if (e.type === "exchange-added") return d.preset ? "preset" : "ephemeral";
      if (["exchange-keys-fetched", "exchange-update-failed", "exchange-tos-offered"].includes(e.type)) return "ephemeral";
      if (e.type === "coins-withdrawn" || e.type === "coins-refreshed") return "used";
      // An acceptance or suspension keeps the entry without lifting it: ephemeral when nothing else survives.
      if (["exchange-tos-accepted", "exchange-tos-forgotten", "exchange-suspended", "exchange-unsuspended"].includes(e.type)) return "touched";
      return undefined;
    };
    const levels = new Set(log.map(level));
    const found = (["used", "ephemeral", "preset", "touched"] as const).find((l) => levels.has(l));
    const expected = found === "touched" ? "ephemeral" : found;
    lawAssert(
      listed.get(url) === expected,
      "a delete removes an exchange entry only when it observed every contribution (add-wins)",
      `${wallet.deviceId}: ${url} is listed as ${listed.get(url) ?? "absent"}, its surviving contributions say ${expected ?? "absent"}`,
    );
  }
}

function urlsOf(log: WalletEvent[]): string[] {
  const out = new Set<string>();
  for (const e of log) {
    const url = (e.data as { url?: unknown }).url;
    if (typeof url === "string") out.add(url);
  }
  return [...out];
}

/** Suspension is the last surviving write by (lamport, device): for each listed exchange, from the wallet's own log. */
export async function checkSuspensionLww(wallet: Wallet): Promise<void> {
  const log = await wallet.exportEvents();
  for (const x of (await wallet.listExchanges()).exchanges) {
    const removed = removedClock(log, x.exchangeBaseUrl);
    const writes = log.filter(
      (e) =>
        (e.type === "exchange-suspended" || e.type === "exchange-unsuspended") &&
        (e.data as { url: string }).url === x.exchangeBaseUrl &&
        !covers(removed, e.device, e.seq),
    );
    const last = writes.reduce<WalletEvent | undefined>(
      (best, e) => (!best || e.lamport > best.lamport || (e.lamport === best.lamport && e.device > best.device) ? e : best),
      undefined,
    );
    lawAssert(
      (x.exchangeUpdateStatus === "suspended") === (last?.type === "exchange-suspended"),
      "suspension is the last surviving write by (lamport, device)",
      `${wallet.deviceId}: ${x.exchangeBaseUrl} is ${x.exchangeUpdateStatus}, the last surviving write is ${last ? `${last.type} ${dotOf(last)}` : "none"}`,
    );
  }
}

// ---------------------------------------------------------------- atomic import

/** The ways checkImportAtomic spoils a batch, each with the code the import must refuse it with. */
export const CORRUPTIONS = {
  /** A new event's payload gains an unknown field. */
  payload: "event-invalid",
  /** A new event changes while its successor (whose prev hashes it) is in the batch. */
  "chain-data": "import-broken-chain",
  /** A new event's prev hash is altered. */
  "chain-prev": "import-broken-chain",
  /** An event the receiver holds arrives changed. */
  "equivocation-known": "import-equivocation",
  /** A new event arrives twice, the second time changed. */
  "equivocation-twin": "import-equivocation",
  /** An event another new event depends on is left out. */
  missing: "import-missing-deps",
} as const;
export type CorruptionKind = keyof typeof CORRUPTIONS;

/** A corruption and where it strikes (`prefix`: how much of the log the receiver holds already; `pick`: which candidate event; both modulo). */
export interface Corruption {
  kind: CorruptionKind;
  prefix: number;
  pick: number;
}

/** Random corruptions for checkImportAtomic. */
export const corruptionArb: fc.Arbitrary<Corruption> = fc.record({
  kind: fc.constantFrom(...(Object.keys(CORRUPTIONS) as CorruptionKind[])),
  prefix: fc.nat(),
  pick: fc.nat(),
});

/**
 * Import is atomic: a receiver holding a causal prefix of device 0's log is
 * handed the whole log with one corruption; the import must be refused with
 * the corruption's code and change no record, no log entry, no clock; the
 * intact batch then goes in. Returns false (checking nothing) when the log
 * offers no place for this corruption: skip the run (fc.pre) then.
 */
export async function checkImportAtomic(sim: Simulation, corruption: Corruption): Promise<boolean> {
  const law = "import is atomic";
  return explained(sim, async () => {
    const all = await sim.wallets[0].exportEvents();
    if (all.length < 3) return false;
    const k = 1 + (corruption.prefix % (all.length - 2));
    const receiver = await mergeInto(await sim.openWallet("receiver"), all.slice(0, k));
    const batch = corrupt(all, k, corruption);
    if (batch === undefined) return false;
    const expected = CORRUPTIONS[corruption.kind];
    // Records and log are compared as JSON text: a refused import must not even reorder a field.
    const before = {
      dump: await receiver.dumpProjections(),
      log: await receiver.exportEvents(),
      clock: await receiver.getVectorClock(),
    };
    const refusal = await receiver.importEvents(batch).then(
      () => undefined,
      (e: unknown) => e,
    );
    const what = `${corruption.kind} (receiver holds ${k} of ${all.length} events)`;
    if (!(isWalletError(refusal) && refusal.name === "WalletError" && refusal.code === expected)) {
      throw lawFailure(law, `${what}: expected a WalletError ${expected}, got ${refusal === undefined ? "success" : String(refusal)}`);
    }
    lawAssertSameJson(await receiver.dumpProjections(), before.dump, law, `${what}: records changed by a refused import (each line: after, expected before)`);
    lawAssertSameJson(await receiver.exportEvents(), before.log, law, `${what}: log changed by a refused import (each line: after, expected before)`);
    lawAssertEqual(await receiver.getVectorClock(), before.clock, law, `${what}: clock changed by a refused import`);
    // The intact batch goes in: the corruption alone was refused.
    lawAssertEqual(await receiver.importEvents(all), { added: all.length - k, known: k }, law, `${what}: the intact batch afterwards`);
    return true;
  });
}

/** `all` with one corruption; events from index k on are new to the receiver. Undefined when no event fits. */
function corrupt(all: WalletEvent[], k: number, c: Corruption): WalletEvent[] | undefined {
  const batch: WalletEvent[] = structuredClone(all);
  const isNew = (i: number) => i >= k;
  const indices = batch.map((_, i) => i);
  const choose = (cands: number[]) => (cands.length === 0 ? undefined : cands[c.pick % cands.length]);
  let i: number | undefined;
  switch (c.kind) {
    case "payload":
      i = choose(indices.filter(isNew));
      if (i !== undefined) batch[i].data = { ...(batch[i].data as object), unexpected: 1 };
      break;
    case "chain-data":
      // A changed event whose successor is in the batch: the successor's prev no longer matches.
      i = choose(indices.filter((j) => isNew(j) && batch.some((e) => e.device === batch[j].device && e.seq === batch[j].seq + 1)));
      if (i !== undefined) batch[i].time += 1;
      break;
    case "chain-prev":
      i = choose(indices.filter((j) => isNew(j) && batch[j].seq > 1));
      if (i !== undefined) batch[i].prev = `${batch[i].prev!.slice(0, -1)}${batch[i].prev!.endsWith("0") ? "1" : "0"}`;
      break;
    case "equivocation-known":
      i = choose(indices.filter((j) => !isNew(j)));
      if (i !== undefined) batch[i].time += 1;
      break;
    case "equivocation-twin":
      i = choose(indices.filter(isNew));
      if (i !== undefined) batch.splice(i + 1, 0, { ...structuredClone(batch[i]), time: batch[i].time + 1 });
      break;
    case "missing":
      // Drop an event that another new event depends on.
      i = choose(indices.filter((j) => isNew(j) && batch.some((e, m) => m !== j && isNew(m) && covers(e.deps, batch[j].device, batch[j].seq))));
      if (i !== undefined) batch.splice(i, 1);
      break;
    default: {
      const never: never = c.kind;
      throw new Error(`unknown corruption ${String(never)}`);
    }
  }
  return i === undefined ? undefined : batch;
}

// ---------------------------------------------------------------- all of them

/** Choices for checkMergeLaws; every one has a deterministic default. */
export interface MergeLawsOptions extends SimulationOptions {
  /** The order of (from, to) syncs that brings every device up to date (default: allPairs). */
  syncOrder?: [number, number][];
  /** Older logs merged back (default: the middle snapshot into each device, a restored device from a third of the way). */
  resurrection?: ResurrectionPlan;
  /** Deliveries of the merged log (default: two, one in reverse batches). */
  deliveries?: Delivery[];
  /** Corruptions tried on the merged log (default: one of each kind). */
  corruptions?: Corruption[];
}

/**
 * Plays a history on real wallets and checks every merge law on it:
 * incremental == rebuild and balances on each device as played; merge
 * commutative, associative (3+ devices) and idempotent; no resurrection from
 * older logs; then, after every device synced: convergence, incremental ==
 * rebuild, no coin lost, double spends listed, add-wins, suspension LWW,
 * balances, any linearization folds the same, import atomic. Throws the
 * first broken law, with the history as played.
 */
export async function checkMergeLaws(history: History, opts: MergeLawsOptions = {}): Promise<void> {
  await withSimulation(
    history,
    async (sim) => {
      for (const w of sim.wallets) await checkIncrementalEqualsRebuild(w, "after its history");
      for (const w of sim.wallets) await checkBalances(w, sim.coins.keys());
      await checkMergeCommutative(sim);
      if (sim.wallets.length >= 3) await checkMergeAssociative(sim);
      await checkMergeIdempotent(sim);
      const n = sim.snapshots.length;
      await checkNoResurrection(
        sim,
        opts.resurrection ?? {
          merges: sim.wallets.map((_, target) => ({ snapshot: Math.floor(n / 2) + target, target })),
          restoredFrom: Math.floor(n / 3),
        },
      );

      await sim.fullSync(opts.syncOrder);
      await checkConvergence(sim.wallets, { exchangeUrls: EXCHANGES.map((x) => x.url) });
      for (const w of sim.wallets) await checkIncrementalEqualsRebuild(w, "after a full sync");
      await checkNoLoss(sim);
      for (const w of sim.wallets) await checkConflictsListed(w);
      await checkAddWins(sim.wallets[0]);
      await checkSuspensionLww(sim.wallets[0]);
      for (const w of sim.wallets) await checkBalances(w, sim.coins.keys());
      await checkLinearizations(
        sim,
        opts.deliveries ?? [
          { choices: [0], chunks: [1], reversed: false },
          { choices: [1, 2, 3], chunks: [3, 1], reversed: true },
        ],
      );
      const corruptions = opts.corruptions ?? (Object.keys(CORRUPTIONS) as CorruptionKind[]).map((kind, i) => ({ kind, prefix: i, pick: i }));
      for (const c of corruptions) await checkImportAtomic(sim, c);
    },
    { ...opts, keepSnapshots: true },
  );
}

// The testing entry used the way a wallet developer uses it: the README's
// example runs here verbatim (only its import points at the source), random
// requests go through handleRequest and the typed methods, and every law check
// is shown to fail, with a readable message, on a deliberately broken input:
// wallets that did not sync, projection records altered on disk, or a wallet
// wrapped to misbehave the way a broken engine would.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { open } from "lmdb";
import { keyId } from "../src/events/records.ts";
import { sealJson } from "../src/events/sealed-value.ts";
import { describe, expect, test } from "vitest";
import { openWallet, type Wallet, type WalletEvent } from "../src/index.ts";
import {
  applyRequest,
  checkAddWins,
  checkBalances,
  checkConflictsListed,
  checkConvergence,
  checkImportAtomic,
  checkIncrementalEqualsRebuild,
  checkLinearizations,
  checkMergeAssociative,
  checkMergeCommutative,
  checkMergeIdempotent,
  checkNoLoss,
  checkNoResurrection,
  checkNotGrown,
  checkSuspensionLww,
  deviceName,
  EXPECTED_REFUSALS,
  REQUEST_OPERATIONS,
  requestArb,
  requestsArb,
  Simulation,
  withSimulation,
  withToString,
  type History,
  type RequestWorld,
  type Step,
} from "../src/testing/index.ts";
import { tempDir } from "./support/temp-wallet.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 20);

// ---- README example (begin): the block under "Testing your wallet", verbatim but for the import path
import fc from "fast-check";
import { it } from "vitest";
import { checkMergeLaws, historyArb } from "../src/testing/index.ts";

it("keeps the merge laws on random three-device histories", async () => {
  await fc.assert(
    fc.asyncProperty(historyArb({ devices: 3, maxSteps: 20 }), (history) => checkMergeLaws(history)),
    { numRuns: 10 },
  );
}, 120_000);
// ---- README example (end)

test("the README shows the example above", () => {
  const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
  const section = readme.split("\n## Testing your wallet\n")[1];
  expect(section, "README has a 'Testing your wallet' section").toBeDefined();
  const block = /```ts\n([\s\S]*?)```/.exec(section!)?.[1];
  const self = readFileSync(fileURLToPath(import.meta.url), "utf8");
  const ours = /\/\/ ---- README example \(begin\)[^\n]*\n([\s\S]*?)\/\/ ---- README example \(end\)/.exec(self)![1];
  expect(block).toBe(ours.replace('"../src/testing/index.ts"', '"taler-wallet-engine/testing"'));
});

// ---------------------------------------------------------------- requests

describe("requestArb and requestsArb", () => {
  const world: RequestWorld = {
    exchanges: [
      { url: "https://ex0.test/", currency: "KUDOS" },
      { url: "https://ex1.test/", currency: "EUR" },
    ],
    coins: [
      { coinPub: "world-c0", value: "KUDOS:1", exchangeBaseUrl: "https://ex0.test/" },
      { coinPub: "world-c1", value: "KUDOS:0.00000003", exchangeBaseUrl: "https://ex0.test/" },
      { coinPub: "world-c2", value: "EUR:20", exchangeBaseUrl: "https://ex1.test/" },
    ],
    withdrawalGroups: [{ withdrawalGroupId: "world-w0", exchangeBaseUrl: "https://ex1.test/" }],
  };

  /** A wallet holding the world: its exchanges, coins and group. */
  async function worldWallet(path: string, deviceId: string): Promise<Wallet> {
    const w = await openWallet({ path, deviceId });
    for (const x of world.exchanges) await w.addExchange({ exchangeBaseUrl: x.url });
    await w.recordWithdrawal({ exchangeBaseUrl: "https://ex0.test/", coins: world.coins!.slice(0, 2).map((c) => ({ coinPub: c.coinPub, denomPubHash: "d", value: c.value })) });
    await w.recordWithdrawal({
      exchangeBaseUrl: "https://ex1.test/",
      withdrawalGroupId: "world-w0",
      amount: "EUR:30",
      coins: [{ coinPub: "world-c2", denomPubHash: "d", value: "EUR:20" }],
    });
    return w;
  }

  test("give payloads the engine accepts; a refusal is one a truthful world allows, the same through handleRequest and the typed methods", async () => {
    const accepted = new Map<string, number>();
    const dir = tempDir();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(requestsArb(world, { minLength: 10, maxLength: 30 }), async (requests) => {
          run++;
          const viaHost = await worldWallet(join(dir.path, `host-${run}`), "host");
          const viaTyped = await worldWallet(join(dir.path, `typed-${run}`), "typed");
          try {
            for (const [i, r] of requests.entries()) {
              const res = await viaHost.handleRequest(r.operation, `r${i}`, r.payload);
              const typed = await applyRequest(viaTyped, r).then(
                () => "response",
                (e: { code?: string }) => e.code,
              );
              const outcome = res.type === "response" ? "response" : res.error.code;
              expect(typed, `${r.operation} ${JSON.stringify(r.payload)}`).toBe(outcome);
              if (res.type === "error") expect([...EXPECTED_REFUSALS], `${r.operation} ${JSON.stringify(r.payload)}: ${res.error.message}`).toContain(res.error.code);
              else accepted.set(r.operation, (accepted.get(r.operation) ?? 0) + 1);
            }
            await checkIncrementalEqualsRebuild(viaHost);
            await checkBalances(viaHost);
          } finally {
            await viaHost.close();
            await viaTyped.close();
          }
        }),
        // At least 20 runs: the counts below are over all of them.
        { numRuns: Math.max(RUNS, 20) },
      );
    } finally {
      dir.cleanup();
    }
    console.log("requestsArb: accepted per operation", Object.fromEntries(accepted));
    // Each kind of request is meant to go in, not just to be refused.
    for (const op of REQUEST_OPERATIONS) expect(accepted.get(op) ?? 0, op).toBeGreaterThan(0);
  }, 120_000);

  test("a single request is valid against the world it was drawn for", async () => {
    const dir = tempDir();
    try {
      const w = await worldWallet(join(dir.path, "single"), "single");
      // Made-up ids are unique within one request: each draw gets a prefix of its own, as on one wallet it must.
      for (let i = 0; i < 100; i++) {
        const [r] = fc.sample(requestArb({ ...world, idPrefix: `single${i}-` }), 1);
        const res = await w.handleRequest(r.operation, `s${i}`, r.payload);
        if (res.type === "error") expect([...EXPECTED_REFUSALS], `${r.operation} ${JSON.stringify(r.payload)}`).toContain(res.error.code);
      }
      await w.close();
      // Without coins or groups, only requests that need none are drawn.
      const bare = fc.sample(requestArb({ exchanges: world.exchanges }), 200).map((r) => r.operation);
      expect(bare).not.toContain("recordSpend");
      expect(bare).not.toContain("recordRefresh");
      expect(bare).not.toContain("abortWithdrawal");
      expect(() => requestArb({ exchanges: [] })).toThrow(/at least one exchange/);
    } finally {
      dir.cleanup();
    }
  });
});

// ---------------------------------------------------------------- the law checks, on broken inputs

/** dev0 withdraws KUDOS:1 (dev0-c1) and KUDOS:2 (dev0-c2), dev1 learns of them, then each spends more than half of dev0-c1. */
const doubleSpend: History = withToString({
  devices: 2,
  steps: [
    { device: 0, op: "addExchange", args: { ex: 0, preset: false } },
    { device: 1, op: "addExchange", args: { ex: 0, preset: false } },
    { device: 0, op: "recordWithdrawal", args: { ex: 0, group: null, coins: ["1", "2"], pending: null } },
    { sync: true, from: 0, to: 1 },
    { device: 0, op: "recordSpend", args: { coin: 0, share: 0.5, spendId: null } },
    { device: 1, op: "recordSpend", args: { coin: 0, share: 0.75, spendId: null } },
  ],
});

/** Three devices, no syncs: each adds ex0 and withdraws. */
const apart: History = withToString({
  devices: 3,
  steps: [0, 1, 2].flatMap((device): Step[] => [
    { device, op: "addExchange", args: { ex: 0, preset: false } },
    { device, op: "recordWithdrawal", args: { ex: 0, group: null, coins: ["1"], pending: null } },
  ]),
});

/**
 * Closes device d, changes its stored projection records with `edit`, and reopens it. The edits are
 * written in the store's own format (JSON forms, sealed with a valid checksum): they stand for an
 * engine bug, not for damage on disk, which the store itself would refuse.
 */
async function tamper(sim: Simulation, d: number, edit: (proj: { put(k: (string | number)[], json: unknown): unknown; remove(k: (string | number)[]): unknown }) => Promise<void>) {
  await sim.wallets[d].close();
  const path = join(sim.dir, deviceName(d));
  const env = open({ path: join(path, "projections.mdb"), maxDbs: 12 });
  const db = env.openDB({ name: "proj", encoding: "binary" });
  await edit({ put: (k, json) => db.put(k, sealJson(json, keyId(k))), remove: (k) => db.remove(k) });
  await env.close();
  sim.wallets[d] = await openWallet({ path, deviceId: deviceName(d), now: sim.now });
}

/** Swaps the extra wallets a simulation opens (merge targets, receivers) for misbehaving ones. */
function breakExtraWallets(sim: Simulation, breakIt: (w: Wallet) => Wallet) {
  const original = sim.openWallet.bind(sim);
  sim.openWallet = async (deviceId) => breakIt(await original(deviceId));
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, "the check should have thrown").toBeInstanceOf(Error);
  expect((e as Error).name).toBe("AssertionError");
  return e as Error;
}

describe("each law check fails on a broken input", () => {
  test("checkConvergence: two wallets that did not sync", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      const e = await failure(checkConvergence(sim.wallets));
      expect(e.message).toMatch(/^convergence: dev1 differs from dev0/);
      expect(e.message).toMatch(/clock/);
      // Synced, the same wallets pass.
      await sim.fullSync();
      await checkConvergence(sim.wallets);
    });
  });

  test("checkIncrementalEqualsRebuild and checkBalances: a balance record altered on disk", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await checkBalances(sim.wallets[0]);
      await tamper(sim, 0, async (proj) => {
        // The stored form of a balance: [available, pending incoming] as [value, fraction].
        await proj.put(["bal", "KUDOS"], [[1000, 0], [0, 0]]);
      });
      const b = await failure(checkBalances(sim.wallets[0], sim.coins.keys()));
      expect(b.message).toBe("balances are the sum of what live coins have left: dev0 KUDOS: balance KUDOS:1000, coins have KUDOS:2.5 left");
      const r = await failure(checkIncrementalEqualsRebuild(sim.wallets[0], "after tampering"));
      expect(r.message).toMatch(/^incremental projection equals rebuild: dev0 after tampering: the rebuilt records differ/);
      expect(r.message).toMatch(/available\[0\]: 2, expected 1000/);
    });
  });

  test("checkNoLoss: a coin record removed on disk", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await checkNoLoss(sim);
      await tamper(sim, 1, async (proj) => {
        await proj.remove(["coin", "dev0-c2"]);
      });
      const e = await failure(checkNoLoss(sim));
      expect(e.message).toMatch(/^no coin is lost: dev1: coin dev0-c2 absent; purges observing it: none/);
      // The history as played comes with it.
      expect(e.message).toMatch(/dev0 recordWithdrawal ex=0 group=- coins=\[1,2\]/);
    });
  });

  test("checkConflictsListed: a double-spend conflict record removed on disk", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await sim.fullSync();
      for (const w of sim.wallets) await checkConflictsListed(w);
      await tamper(sim, 0, async (proj) => {
        await proj.remove(["conflict", "dev0-c1"]);
      });
      const e = await failure(checkConflictsListed(sim.wallets[0]));
      expect(e.message).toBe("a double spend is a listed conflict: dev0: coin dev0-c1 spent KUDOS:1.25 of KUDOS:1 is not listed as a conflict");
    });
  });

  test("checkAddWins: an exchange record removed on disk while coins of it live", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await checkAddWins(sim.wallets[0]);
      await tamper(sim, 0, async (proj) => {
        await proj.remove(["ex", "https://ex0.test/"]);
      });
      const e = await failure(checkAddWins(sim.wallets[0]));
      expect(e.message).toMatch(/dev0: https:\/\/ex0\.test\/ is listed as absent, its surviving contributions say used/);
    });
  });

  test("checkSuspensionLww: a wallet that reports a suspension nobody wrote", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      const w = sim.wallets[0];
      await checkSuspensionLww(w);
      const lying: Wallet = {
        ...w,
        listExchanges: async (req) => ({ exchanges: (await w.listExchanges(req)).exchanges.map((x) => ({ ...x, exchangeUpdateStatus: "suspended" as const })) }),
      };
      const e = await failure(checkSuspensionLww(lying));
      expect(e.message).toMatch(/^suspension is the last surviving write by \(lamport, device\): dev0: https:\/\/ex0\.test\/ is suspended, the last surviving write is none/);
    });
  });

  test("checkNoResurrection and checkNotGrown: a wallet that gives spent value back on merge", async () => {
    expect(() => checkNotGrown(new Map([["c", "KUDOS:0.5"]]), new Map([["c", "KUDOS:1"]]), "test")).toThrow(/coin c grew from KUDOS:0.5 to KUDOS:1/);
    expect(() => checkNotGrown(new Map([["c", "removed"]]), new Map([["c", "KUDOS:1"]]), "test")).toThrow(/removed coin c came back/);
    await withSimulation(
      doubleSpend,
      async (sim) => {
        const w = sim.wallets[0];
        let merged = false;
        sim.wallets[0] = {
          ...w,
          importEvents: async (events) => {
            merged = true;
            return w.importEvents(events);
          },
          getCoin: async (req) => {
            const c = await w.getCoin(req);
            return merged ? { ...c, remaining: c.value } : c;
          },
        };
        const e = await failure(checkNoResurrection(sim, { merges: [{ snapshot: 0, target: 0 }], restoredFrom: 0 }));
        expect(e.message).toMatch(/^a spent coin is never resurrected: dev0 importing an older log: coin dev0-c1 grew from KUDOS:0.5 to KUDOS:1/);
      },
      { keepSnapshots: true },
    );
    await withSimulation(doubleSpend, async (sim) => {
      await expect(checkNoResurrection(sim, { merges: [], restoredFrom: 0 })).rejects.toThrow(/keepSnapshots/);
    });
  });

  test("checkMergeCommutative: a merge that keeps only the first log it is given", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      breakExtraWallets(sim, (w) => {
        let first = true;
        return {
          ...w,
          importEvents: async (events) => {
            if (!first) return { added: 0, known: events.length };
            first = false;
            return w.importEvents(events);
          },
        };
      });
      const e = await failure(checkMergeCommutative(sim));
      expect(e.message).toMatch(/^merge is commutative: b∪a differs from a∪b/);
    });
  });

  test("checkMergeAssociative: a merge that drops the last device of a batch holding several", async () => {
    await withSimulation(apart, async (sim) => {
      breakExtraWallets(sim, (w) => ({
        ...w,
        importEvents: async (events) => {
          const devices = [...new Set(events.map((e) => e.device))].sort();
          return w.importEvents(devices.length > 1 ? events.filter((e) => e.device !== devices.at(-1)) : events);
        },
      }));
      const e = await failure(checkMergeAssociative(sim));
      expect(e.message).toMatch(/^merge is associative: a∪\(b∪c\) differs from \(a∪b\)∪c/);
    });
  });

  test("checkMergeIdempotent: a wallet that counts a repeated import as new", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      breakExtraWallets(sim, (w) => ({ ...w, importEvents: async (events) => ({ ...(await w.importEvents(events)), added: events.length, known: 0 }) }));
      const e = await failure(checkMergeIdempotent(sim));
      expect(e.message).toMatch(/^merge is idempotent: importing a again into a∪b/);
    });
  });

  test("checkLinearizations: an import that does not sort a batch and drops what it cannot place yet", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await sim.fullSync();
      breakExtraWallets(sim, (w) => ({
        ...w,
        importEvents: async (events) => {
          let added = 0;
          for (const e of events) added += await w.importEvents([e]).then((r) => r.added, () => 0);
          return { added, known: events.length - added };
        },
      }));
      const e = await failure(checkLinearizations(sim, [{ choices: [0], chunks: [4], reversed: true }]));
      expect(e.message).toMatch(/^any causal linearization folds to the same projection: order dev0:1 /);
    });
  });

  test("checkImportAtomic: an import that keeps the events before a bad one", async () => {
    await withSimulation(doubleSpend, async (sim) => {
      await sim.fullSync();
      expect(await checkImportAtomic(sim, { kind: "payload", prefix: 0, pick: 0 })).toBe(true);
      breakExtraWallets(sim, (w) => ({
        ...w,
        importEvents: async (events: WalletEvent[]) => {
          try {
            return await w.importEvents(events);
          } catch (err) {
            for (const e of events) if (!(await w.importEvents([e]).then(() => true, () => false))) break;
            throw err;
          }
        },
      }));
      const e = await failure(checkImportAtomic(sim, { kind: "payload", prefix: 0, pick: 3 }));
      expect(e.message).toMatch(/^import is atomic: payload \(receiver holds 1 of \d+ events\): (records|log) changed by a refused import/);
    });
  });

  test("checkMergeLaws: a sync order that leaves a device out", async () => {
    const e = await failure(checkMergeLaws(apart, { syncOrder: [[0, 1]] }));
    expect(e.message).toMatch(/^convergence: dev1 differs from dev0/);
    expect(e.message).toMatch(/Simulation of 3 devices:/);
    await checkMergeLaws(apart);
  });
});

// The projection records live in projections.mdb, a cache of the fold of
// wallet.mdb. A write commits wallet.mdb first, so a crash between the two
// commits leaves a cache older than the log, which the next open folds
// forward. A cache that is not this wallet's, is ahead of its log, is damaged
// or missing is folded again from scratch: every case reads what a rebuild
// reads.
import { copyFileSync, existsSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { verifyStore } from "../src/engine/verify-store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { historyArb } from "../src/testing/index.ts";
import { withPlayedDevices, type PlayedDevices } from "./support/played-devices.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 15);

/** `wallet.mdb` (and marker) from `walletFrom`, `projections.mdb` from `cacheFrom` (or none), into `to`. */
function image(walletFrom: string, cacheFrom: string | undefined, to: string) {
  mkdirSync(to, { recursive: true });
  for (const f of ["WALLET", "wallet.mdb"]) copyFileSync(join(walletFrom, f), join(to, f));
  if (cacheFrom) copyFileSync(join(cacheFrom, "projections.mdb"), join(to, "projections.mdb"));
}

/** One store holding every device's events, written one event per commit, checkpointing every commit; `at` sees each step. */
async function playOneByOne(p: PlayedDevices, path: string, at: (step: number) => void) {
  const s = await p.open(path, "merged", { pending: 1 });
  let step = 0;
  for (const d of p.devices) {
    for (const e of exportFrom(d, s.clock())) {
      s.write((tx) => importInto(tx, [e]));
      at(++step);
    }
  }
  return s;
}

describe("projections.mdb, the cache of the fold", () => {
  it(
    "a cache left behind by the log (a crash between the two commits) is folded forward at open to the records of a rebuild",
    async () => {
      await fc.assert(
        fc.asyncProperty(historyArb({ devices: 3, minSteps: 5, maxSteps: 25 }), fc.double({ min: 0, max: 1, noNaN: true }), async (h, when) => {
          await withPlayedDevices(h, "cache-behind", async (p) => {
            const { root } = p;
            const total = p.devices.reduce((n, d) => n + exportFrom(d, {}).length, 0);
            const snapAt = Math.floor(when * total);
            const live = join(root, "live");
            const s = await playOneByOne(p, live, (step) => {
              if (step === snapAt) image(live, live, join(root, "then"));
            });
            const want = s.dumpRecords();
            if (snapAt === 0) mkdirSync(join(root, "then"));
            // The log as it is now, the cache as it was at `snapAt` (none before the first commit).
            image(live, existsSync(join(root, "then", "projections.mdb")) ? join(root, "then") : undefined, join(root, "crashed"));
            expect(await verifyStore(join(root, "crashed"))).toMatchObject({ ok: true });
            const crashed = await p.open(join(root, "crashed"), "merged");
            expect(crashed.dumpRecords()).toEqual(want);
            crashed.rebuild();
            expect(crashed.dumpRecords()).toEqual(want);
          });
        }),
        { numRuns: RUNS },
      );
    },
    600_000,
  );

  it("a cache ahead of its log (wallet.mdb restored from an older copy), another wallet's cache, a damaged or a missing one are folded again", async () => {
    await fc.assert(
      fc.asyncProperty(historyArb({ devices: 3, minSteps: 8, maxSteps: 20 }), historyArb({ devices: 3, minSteps: 1, maxSteps: 4 }), async (h, stranger) => {
        await withPlayedDevices(h, "cache-foreign", async (p) => {
          const { root } = p;
          const live = join(root, "live");
          const s = await playOneByOne(p, live, (step) => {
            if (step === 3) image(live, undefined, join(root, "older"));
          });
          const want = s.dumpRecords();
          const clock = s.clock();
          await p.close(s);

          // The older wallet.mdb beside the newer cache: the cache claims events the log lacks.
          image(join(root, "older"), live, join(root, "ahead"));
          const olderAlone = await p.open(join(root, "older"), "merged");
          const ahead = await p.open(join(root, "ahead"), "merged");
          expect(ahead.dumpRecords()).toEqual(olderAlone.dumpRecords());

          // Another wallet's cache, folded from other events under the same dots and no further than this log.
          await withPlayedDevices(stranger, "cache-stranger", async (q) => {
            const theirs = q.devices.find((d) => Object.entries(d.clock()).every(([dev, seq]) => seq <= (clock[dev] ?? 0)));
            if (!theirs) return;
            const path = theirs.path;
            await q.close(theirs);
            image(live, path, join(root, "foreign"));
            expect(await verifyStore(join(root, "foreign"))).toMatchObject({ ok: true });
            expect((await p.open(join(root, "foreign"), "merged")).dumpRecords()).toEqual(want);
          });

          // A cache whose header is damaged is removed and folded again; so is an empty or a missing one.
          image(live, live, join(root, "zeroed"));
          writeFileSync(join(root, "zeroed", "projections.mdb"), Buffer.alloc(8192));
          expect((await p.open(join(root, "zeroed"), "merged")).dumpRecords()).toEqual(want);
          image(live, live, join(root, "empty"));
          truncateSync(join(root, "empty", "projections.mdb"), 0);
          expect((await p.open(join(root, "empty"), "merged")).dumpRecords()).toEqual(want);
          image(live, undefined, join(root, "missing"));
          expect(await verifyStore(join(root, "missing"))).toMatchObject({ ok: true });
          expect((await p.open(join(root, "missing"), "merged")).dumpRecords()).toEqual(want);
        });
      }),
      { numRuns: Math.max(3, Math.floor(RUNS / 3)) },
    );
  }, 600_000);
});

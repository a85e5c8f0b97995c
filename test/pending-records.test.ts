// Projection records are checkpointed: a commit writes its events durably and
// keeps its records in memory until enough are pending, then one commit writes
// them all with the clock they are folded up to (meta "projected"). Whatever
// the checkpoints, the records read the same; a crash image (the files as they
// are between commits, records pending) passes verifyStore and, opened, folds
// the missing events again to the same records.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { verifyStore } from "../src/engine/verify-store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { historyArb } from "../src/testing/index.ts";
import { withPlayedDevices } from "./support/played-devices.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 15);

/** The data files as a crash would leave them now (no commit is running): marker and data files, not the locks. */
function crashImage(from: string, to: string) {
  mkdirSync(to, { recursive: true });
  for (const f of ["WALLET", "wallet.mdb", "projections.mdb"]) copyFileSync(join(from, f), join(to, f));
}

describe("pending projection records", () => {
  it(
    "read the same whatever the checkpoints, and a crash image folds the pending events again at open",
    async () => {
      await fc.assert(
        fc.asyncProperty(historyArb({ devices: 3, minSteps: 5, maxSteps: 25 }), fc.integer({ min: 1, max: 40 }), async (h, limit) => {
          await withPlayedDevices(h, "pending-records", async ({ root, devices, open, close }) => {
            // Never checkpoints before close (a limit above any history here); checkpoints every commit; now and then.
            const lazy = await open(join(root, "lazy"), "merged", { pending: 1_000_000 });
            const eager = await open(join(root, "eager"), "merged", { pending: 1 });
            const some = await open(join(root, "some"), "merged", { pending: limit });
            for (const d of devices) {
              // One event at a time: many commits, records pending across them.
              for (const e of exportFrom(d, lazy.clock())) for (const s of [lazy, eager, some]) s.write((tx) => importInto(tx, [e]));
              expect(eager.dumpRecords()).toEqual(lazy.dumpRecords());
              expect(some.dumpRecords()).toEqual(lazy.dumpRecords());
            }
            const want = lazy.dumpRecords();

            crashImage(join(root, "lazy"), join(root, "crashed"));
            expect(await verifyStore(join(root, "crashed"))).toMatchObject({ ok: true });
            const crashed = await open(join(root, "crashed"), "merged");
            expect(crashed.dumpRecords()).toEqual(want);
            crashed.rebuild();
            expect(crashed.dumpRecords()).toEqual(want);

            // A clean close writes what is pending: reopened, nothing is left to fold.
            await close(lazy);
            expect(await verifyStore(join(root, "lazy"))).toMatchObject({ ok: true });
            const reopened = await open(join(root, "lazy"), "merged");
            expect(reopened.dumpRecords()).toEqual(want);
          });
        }),
        { numRuns: RUNS },
      );
    },
    600_000,
  );
});

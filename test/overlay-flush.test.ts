// The record overlay writes its records out part way through a transaction
// once it holds too many (a request's at 50k, a rebuild's or compaction's at
// 100k), and pending records are checkpointed once 2k wait. Reducers read live
// records and put them back; a flush between two of their steps must not lose
// or fork a record. With thresholds of one record, every fold is written out
// after nearly every write: imports, rebuilds and compactions must still give
// what they give with no flush at all.
import { cpSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Store } from "../src/events/store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { deviceName, historyArb } from "../src/testing/index.ts";
import { withPlayedDevices } from "./support/played-devices.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 20);
const TINY = { write: 1, batch: 1, pending: 1 };

// Without the device-local tables (exchange update attempts; when each device was last heard from).
const shared = (s: Store) => s.dumpRecords().filter((r) => r.key[0] !== "upd" && r.key[0] !== "known");

describe("overlay flushes part way through a transaction", () => {
  it(
    "imports, rebuilds and compactions that flush after every record equal those that never flush",
    async () => {
      await fc.assert(
        fc.asyncProperty(historyArb({ devices: 3, minSteps: 5, maxSteps: 25 }), async (h) => {
          await withPlayedDevices(h, "overlay-flush", async ({ root, devices, open, close }) => {
            const ref = await open(join(root, "ref"), "ref");
            const tiny = await open(join(root, "tiny"), "tiny", TINY);
            for (const d of devices) {
              ref.write((tx) => importInto(tx, exportFrom(d)));
              tiny.write((tx) => importInto(tx, exportFrom(d)));
              expect(shared(tiny)).toEqual(shared(ref));
            }
            tiny.rebuild();
            expect(shared(tiny)).toEqual(shared(ref));

            // A device's own wallet, local events included, rebuilt with tiny overlays.
            const own = devices[0];
            const dump = own.dumpRecords();
            await close(own);
            cpSync(join(root, "sim", deviceName(0)), join(root, "own"), { recursive: true });
            const ownTiny = await open(join(root, "own"), deviceName(0), TINY);
            ownTiny.rebuild();
            expect(ownTiny.dumpRecords()).toEqual(dump);

            // Compaction folds the held events into the base through the same overlay.
            const frontier = ref.clock();
            ref.compact(frontier);
            tiny.compact(frontier);
            expect(tiny.snapshot()).toEqual(ref.snapshot());
            tiny.rebuild();
            expect(shared(tiny)).toEqual(shared(ref));
          });
        }),
        { numRuns: RUNS },
      );
    },
    600_000,
  );
});

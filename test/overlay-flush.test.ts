// The record overlay writes its records out part way through a transaction
// once it holds too many (a request's at 50k, a rebuild's or compaction's at
// 100k). Reducers read live records and put them back; a flush between two of
// their steps must not lose or fork a record. With thresholds of one record,
// every fold is written out after nearly every write: imports, rebuilds and
// compactions must still give what they give with no flush at all.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore, type Store } from "../src/events/store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { PROJECTIONS } from "../src/projections/index.ts";
import { deviceName, historyArb, Simulation } from "../src/testing/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 20);
const TINY = { write: 1, batch: 1, pending: 1 };

const shared = (s: Store) => s.dumpRecords().filter((r) => r.key[0] !== "upd");
const open = (path: string, deviceId: string, overlayRecords?: typeof TINY) => openStore({ path, deviceId, projections: PROJECTIONS, overlayRecords });

describe("overlay flushes part way through a transaction", () => {
  it(
    "imports, rebuilds and compactions that flush after every record equal those that never flush",
    async () => {
      await fc.assert(
        fc.asyncProperty(historyArb({ devices: 3, minSteps: 5, maxSteps: 25 }), async (h) => {
          const root = mkdtempSync(join(tmpdir(), "overlay-flush-"));
          const stores: Store[] = [];
          const opened = async (s: Promise<Store>) => {
            const x = await s;
            stores.push(x);
            return x;
          };
          try {
            const sim = await Simulation.play(h, { dir: join(root, "sim") });
            await sim.close();
            const devices = await Promise.all([0, 1, 2].map((i) => opened(open(join(root, "sim", deviceName(i)), deviceName(i)))));
            const ref = await opened(open(join(root, "ref"), "ref"));
            const tiny = await opened(open(join(root, "tiny"), "tiny", TINY));
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
            await own.close();
            stores.splice(stores.indexOf(own), 1);
            cpSync(join(root, "sim", deviceName(0)), join(root, "own"), { recursive: true });
            const ownTiny = await opened(open(join(root, "own"), deviceName(0), TINY));
            ownTiny.rebuild();
            expect(ownTiny.dumpRecords()).toEqual(dump);

            // Compaction folds the held events into the base through the same overlay.
            const frontier = ref.clock();
            ref.compact(frontier);
            tiny.compact(frontier);
            expect(tiny.snapshot()).toEqual(ref.snapshot());
            tiny.rebuild();
            expect(shared(tiny)).toEqual(shared(ref));
          } finally {
            for (const s of stores) await s.close();
            rmSync(root, { recursive: true, force: true });
          }
        }),
        { numRuns: RUNS },
      );
    },
    600_000,
  );
});

// Compaction at a causally closed frontier: a snapshot plus the tail above it
// merges exactly as the full log would, into a new device and into a device
// that lacks events below the frontier (one that comes back after the
// frontier moved past it); snapshot imports are idempotent and commute with
// importing the same events.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { leq, meet, type VectorClock } from "../src/events/clock.ts";
import { openStore, type Store } from "../src/events/store.ts";
import { exportFrom, importInto } from "../src/merge/log-merge.ts";
import { importSnapshotAndTail } from "../src/merge/snapshot-merge.ts";
import { deviceName, historyArb, Simulation, type History } from "../src/testing/index.ts";
import { verifyStore } from "../src/engine/verify-store.ts";
import { PROJECTIONS } from "../src/projections/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 25);

/** Shared records only: what every replica holding the same events must agree on. */
// Without the device-local tables (exchange update attempts; when each device was last heard from).
const shared = (s: Store) => s.dumpRecords().filter((r) => r.key[0] !== "upd" && r.key[0] !== "known");

/** Plays `h` on three wallets, closes them, and hands their directories (and a scratch dir) to `body`. */
async function withDevices(h: History, body: (dirs: string[], scratch: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "snapshot-merge-"));
  try {
    const sim = await Simulation.play(h, { dir: join(root, "sim") });
    await sim.close();
    await body(
      [0, 1, 2].map((i) => join(root, "sim", deviceName(i))),
      root,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const open = (path: string, deviceId?: string) => openStore({ path, deviceId, projections: PROJECTIONS });

/** A copy of a closed wallet directory, opened. */
async function copyOf(dir: string, to: string): Promise<Store> {
  cpSync(dir, to, { recursive: true });
  return open(to);
}

const histories = historyArb({ devices: 3, minSteps: 5, maxSteps: 25 });

describe("snapshot and tail", () => {
  it(
    "a new device importing a snapshot and its tail holds what the full log gives",
    async () => {
      await fc.assert(
        fc.asyncProperty(histories, fc.boolean(), async (h, syncFirst) => {
          await withDevices(h, async (dirs, root) => {
            const a = await copyOf(dirs[0], join(root, "a"));
            const others = await Promise.all([1, 2].map((i) => copyOf(dirs[i], join(root, `o${i}`))));
            try {
              if (syncFirst) for (const o of others) o.write((tx) => importInto(tx, exportFrom(a, o.clock())));
              // The stable frontier: what every device holds (each log is causally closed, so their meet is too).
              const frontier: VectorClock = meet([a.clock(), ...others.map((o) => o.clock())]);
              const fullBefore = shared(a);
              a.compact(frontier);
              // Compacting moves the base, never the projections.
              expect(shared(a)).toEqual(fullBefore);
              const snap = a.snapshot();
              const tail = exportFrom(a, snap.frontier);

              const viaSnapshot = await open(join(root, "new"), "newdev");
              const viaLog = await open(join(root, "ref"), "refdev");
              try {
                const r = viaSnapshot.write((tx) => importSnapshotAndTail(tx, snap, tail));
                expect(r.adopted).toBe(Object.keys(snap.frontier).length > 0);
                viaLog.write((tx) => importInto(tx, exportFrom(a)));
                expect(shared(viaSnapshot)).toEqual(shared(viaLog));
                expect(viaSnapshot.clock()).toEqual(viaLog.clock());
                // The base survives a rebuild: projections re-fold from it.
                viaSnapshot.rebuild();
                expect(shared(viaSnapshot)).toEqual(shared(viaLog));
                // Idempotent: the same snapshot and tail again change nothing.
                const again = viaSnapshot.write((tx) => importSnapshotAndTail(tx, snap, tail));
                expect(again).toEqual({ added: 0, known: tail.length, adopted: false });
                expect(shared(viaSnapshot)).toEqual(shared(viaLog));
              } finally {
                await viaSnapshot.close();
                await viaLog.close();
              }
            } finally {
              await a.close();
              for (const o of others) await o.close();
            }
          });
        }),
        { numRuns: RUNS },
      );
    },
    600_000,
  );

  it(
    "a device that lacks events below the frontier (it came back after the frontier moved) ends where merging the full log would take it",
    async () => {
      let adoptions = 0;
      await fc.assert(
        fc.asyncProperty(histories, async (h) => {
          await withDevices(h, async (dirs, root) => {
            const a = await copyOf(dirs[0], join(root, "a"));
            const b = await copyOf(dirs[1], join(root, "b"));
            try {
              // Device 2 is the one away: the frontier moves on with devices 0 and 1 only (as when it is retired).
              b.write((tx) => importInto(tx, exportFrom(a, b.clock())));
              a.write((tx) => importInto(tx, exportFrom(b, a.clock())));
              const frontier = meet([a.clock(), b.clock()]);
              a.compact(frontier);
              const snap = a.snapshot();
              const tail = exportFrom(a, snap.frontier);

              const returning = await copyOf(dirs[2], join(root, "returning"));
              const reference = await copyOf(dirs[2], join(root, "reference"));
              try {
                const r = returning.write((tx) => importSnapshotAndTail(tx, snap, tail));
                if (r.adopted) adoptions++;
                reference.write((tx) => importInto(tx, exportFrom(a, reference.clock())));
                expect(shared(returning)).toEqual(shared(reference));
                expect(returning.clock()).toEqual(reference.clock());
                // Its own events above the frontier are still in its log and still exportable.
                const own = returning.clock()[deviceName(2)] ?? 0;
                if (own > (snap.frontier[deviceName(2)] ?? 0)) expect(exportFrom(returning, snap.frontier).some((e) => e.device === deviceName(2))).toBe(true);
                if (r.adopted) {
                  // What it folded away it no longer exports as events: a peer below the frontier needs the snapshot.
                  const below = Object.keys(snap.frontier).find((d) => (snap.frontier[d] ?? 0) > 0);
                  if (below && returning.rangeOfDevice(below, 1, 1)[Symbol.iterator]().next().done) {
                    expect(() => exportFrom(returning, {})).toThrow(expect.objectContaining({ code: "log-compacted" }));
                  }
                }
                // And it keeps merging: a and the returning device exchange events above the frontier and agree.
                returning.write((tx) => importInto(tx, exportFrom(a, { ...returning.clock() })));
                a.write((tx) => importInto(tx, exportFrom(returning, { ...a.clock() })));
                expect(shared(returning)).toEqual(shared(a));
              } finally {
                await returning.close();
                await reference.close();
              }
            } finally {
              await a.close();
              await b.close();
            }
          });
        }),
        { numRuns: RUNS },
      );
      // The case this law is about happened: the returning device lacked events below the frontier.
      expect(adoptions).toBeGreaterThan(0);
    },
    600_000,
  );

  it(
    "two wallets whose bases are incomparable (each compacted what it alone held) merge each other's snapshot and tail like the full logs",
    async () => {
      let incomparable = 0;
      await fc.assert(
        fc.asyncProperty(histories, async (h) => {
          await withDevices(h, async (dirs, root) => {
            const a = await copyOf(dirs[0], join(root, "a"));
            const b = await copyOf(dirs[1], join(root, "b"));
            const c = await copyOf(dirs[2], join(root, "c"));
            const refA = await copyOf(dirs[0], join(root, "ref-a"));
            const refC = await copyOf(dirs[2], join(root, "ref-c"));
            try {
              a.write((tx) => importInto(tx, exportFrom(b, a.clock())));
              // Each compacts everything it holds, as when each retired the others.
              a.compact(a.clock());
              c.compact(c.clock());
              const fromA = a.snapshot();
              const fromC = c.snapshot();
              const tailA = exportFrom(a, fromA.frontier);
              const tailC = exportFrom(c, fromC.frontier);
              if (!leq(fromA.frontier, fromC.frontier) && !leq(fromC.frontier, fromA.frontier)) incomparable++;
              refC.write((tx) => importInto(tx, exportFrom(a, refC.clock())));
              refA.write((tx) => importInto(tx, exportFrom(b, refA.clock())));
              refA.write((tx) => importInto(tx, exportFrom(c, refA.clock())));
              c.write((tx) => importSnapshotAndTail(tx, fromA, tailA));
              a.write((tx) => importSnapshotAndTail(tx, fromC, tailC));
              expect(shared(c)).toEqual(shared(refC));
              expect(c.clock()).toEqual(refC.clock());
              expect(shared(a)).toEqual(shared(refA));
              expect(a.clock()).toEqual(refA.clock());
              expect(shared(a)).toEqual(shared(c));
              // The adopted base is a base like any other: a rebuild folds to the same records.
              c.rebuild();
              expect(shared(c)).toEqual(shared(refC));
            } finally {
              for (const s of [a, b, c, refA, refC]) await s.close();
            }
            const v = await verifyStore(join(root, "c"));
            expect(v, JSON.stringify(v).slice(0, 2000)).toMatchObject({ ok: true });
          });
        }),
        // Five stores per run: a third of the runs keeps the default test run short.
        { numRuns: Math.max(5, Math.round(RUNS / 3)) },
      );
      // The case this law is about happened: neither base covered the other.
      expect(incomparable).toBeGreaterThan(0);
    },
    600_000,
  );

  it("importing a snapshot and tail commutes with importing the same events", async () => {
    await fc.assert(
      fc.asyncProperty(histories, async (h) => {
        await withDevices(h, async (dirs, root) => {
          const a = await copyOf(dirs[0], join(root, "a"));
          try {
            const frontier = meet([a.clock(), a.clock()]);
            const log = exportFrom(a);
            a.compact(frontier);
            const snap = a.snapshot();
            const tail = exportFrom(a, snap.frontier);
            const x = await open(join(root, "x"), "x");
            const y = await open(join(root, "y"), "y");
            try {
              x.write((tx) => importSnapshotAndTail(tx, snap, tail));
              x.write((tx) => importInto(tx, log));
              y.write((tx) => importInto(tx, log));
              y.write((tx) => importSnapshotAndTail(tx, snap, tail));
              expect(shared(x)).toEqual(shared(y));
            } finally {
              await x.close();
              await y.close();
            }
          } finally {
            await a.close();
          }
        });
      }),
      { numRuns: Math.max(5, Math.floor(RUNS / 2)) },
    );
  }, 600_000);

  it("every shared table states its stored form's shape, so a snapshot's records are checked as they arrive", () => {
    for (const p of PROJECTIONS) {
      for (const [table, codec] of Object.entries(p.tables)) if (!codec.local) expect(codec.shape, `${p.name}.${table}`).toBeDefined();
    }
  });

  it("refuses a snapshot record that decodes but is malformed (it would fail every later read), writing nothing", async () => {
    const h = fc.sample(histories, { seed: 7, numRuns: 1 })[0];
    await withDevices(h, async (dirs, root) => {
      const a = await copyOf(dirs[0], join(root, "a"));
      const x = await open(join(root, "x"), "x");
      try {
        a.compact(a.clock());
        const snap = a.snapshot();
        // Each decodes without complaint (the codecs trust what a wallet wrote itself); each breaks a read later.
        const malformed: Record<string, unknown> = {
          bal: [[null, null], [0, 0]],
          res: [-1, 0],
          exev: "not a list",
          conflict: [5],
          wgx: 2,
          coin: null,
          ex: null,
        };
        let tried = 0;
        for (const [table, json] of Object.entries(malformed)) {
          const at = snap.records.findIndex((r) => r.key[0] === table);
          if (at < 0) continue;
          tried++;
          const records = snap.records.map((r, i) => (i === at ? { ...r, json } : r));
          expect(() => x.write((tx) => tx.adoptSnapshot({ ...snap, records })), table).toThrow(expect.objectContaining({ code: "snapshot-invalid" }));
          expect(x.clock()).toEqual({});
          expect(shared(x)).toEqual([]);
        }
        expect(tried).toBeGreaterThanOrEqual(4);
        x.write((tx) => tx.adoptSnapshot(snap));
        expect(x.baseFrontier()).toEqual(snap.frontier);
      } finally {
        await x.close();
        await a.close();
      }
    });
  });

  it("refuses a tail that does not continue the snapshot, and a snapshot below the wallet's own base, writing nothing", async () => {
    const h = fc.sample(histories, { seed: 7, numRuns: 1 })[0];
    await withDevices(h, async (dirs, root) => {
      const a = await copyOf(dirs[0], join(root, "a"));
      try {
        const clock = a.clock();
        a.compact(clock);
        const snap = a.snapshot();
        const d = Object.keys(clock)[0];
        const x = await open(join(root, "x"), "x");
        try {
          const empty = shared(x);
          const stray = { ...exportFrom(a)[0] };
          expect(() => x.write((tx) => importSnapshotAndTail(tx, snap, [stray]))).toThrow(expect.objectContaining({ code: "snapshot-inconsistent" }));
          expect(shared(x)).toEqual(empty);
          expect(x.clock()).toEqual({});
          x.write((tx) => importSnapshotAndTail(tx, snap, []));
          const adopted = shared(x);
          // Another event under one of the base's head dots contradicts the base.
          const forged = { ...snap, heads: { ...snap.heads, [d]: { ...snap.heads[d], hash: "0".repeat(103) } } };
          expect(() => x.write((tx) => tx.adoptSnapshot(forged))).toThrow(expect.objectContaining({ code: "snapshot-inconsistent" }));
          // A base only moves up: an older snapshot cannot replace it.
          expect(() => x.write((tx) => tx.adoptSnapshot({ frontier: {}, heads: {}, records: [] }))).toThrow(
            expect.objectContaining({ code: "snapshot-incomparable" }),
          );
          expect(shared(x)).toEqual(adopted);
          expect(x.baseFrontier()).toEqual(snap.frontier);
          // The full walk of a store with a base (and of the one it came from) finds nothing wrong.
          await x.close();
          await a.close();
          expect(await verifyStore(join(root, "x"))).toMatchObject({ ok: true });
          expect(await verifyStore(join(root, "a"))).toMatchObject({ ok: true });
        } finally {
          await x.close();
        }
      } finally {
        await a.close();
      }
    });
  }, 120_000);
});

// `wallet-engine rebuild | check`: is what the wallet stored what its log says?
import type { VectorClock } from "../events/clock.ts";
import { verifyStore } from "../engine/verify-store.ts";
import { requireWalletDirectory } from "./wallet-dir.ts";
import type { Command } from "./command.ts";
import { fields, status } from "./format.ts";

export interface DumpRecord {
  key: unknown[];
  value: unknown;
}

export interface DumpDifference {
  /** The record's key, as JSON. */
  key: string;
  change: "missing" | "added" | "changed";
}

/** What differs between two projection dumps (records as plain JSON), in key order. */
export function compareDumps(before: DumpRecord[], after: DumpRecord[]): DumpDifference[] {
  const index = (d: DumpRecord[]) => new Map(d.map((r) => [JSON.stringify(r.key), JSON.stringify(r.value)]));
  const a = index(before);
  const b = index(after);
  const out: DumpDifference[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) out.push({ key: k, change: "missing" });
    else if (w !== v) out.push({ key: k, change: "changed" });
  }
  for (const k of b.keys()) if (!a.has(k)) out.push({ key: k, change: "added" });
  return out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

const SHOWN_DIFFERENCES = 20;

const rebuild: Command = {
  words: ["rebuild"],
  summary: "fold the projections again from the log and report whether they matched what was stored",
  description: [
    "Exit status 0 when the rebuilt records equal the stored ones, 1 when they differed",
    "(the rebuilt ones are kept: they are what the log says). `missing` records were stored",
    "but the log does not make them, `added` ones the log makes but were not stored.",
  ].join("\n"),
  args: [],
  options: {},
  wallet: "existing",
  async run(cx) {
    const bar = cx.progress("rebuild", 4);
    let before: DumpRecord[];
    let after: DumpRecord[];
    let clock: VectorClock;
    let differences: DumpDifference[];
    try {
      // The fold itself is one synchronous transaction: the bar moves between the steps around it.
      bar.update(0, "reading the stored projections");
      before = (await cx.request("dumpProjections")) as DumpRecord[];
      clock = (await cx.request("getVectorClock")) as VectorClock;
      bar.update(1, "folding the log");
      await cx.request("rebuild");
      bar.update(2, "reading the rebuilt projections");
      after = (await cx.request("dumpProjections")) as DumpRecord[];
      bar.update(3, "comparing");
      differences = compareDumps(before, after);
      bar.update(4);
    } finally {
      bar.finish();
    }
    const matched = differences.length === 0;
    const events = Object.values(clock).reduce((a, b) => a + b, 0);
    cx.print({ matched, events, records: after.length, differences }, () =>
      [
        fields(cx.style, [
          ["projections", status(matched ? "matched" : "differed")],
          ["events", String(events)],
          ["records", `${after.length} rebuilt, ${before.length} stored before`],
        ]),
        ...differences.slice(0, SHOWN_DIFFERENCES).map((d) => `  ${d.change.padEnd(7)}  ${d.key}`),
        ...(differences.length > SHOWN_DIFFERENCES ? [`  … and ${differences.length - SHOWN_DIFFERENCES} more (--json lists all)`] : []),
      ].join("\n"),
    );
    return matched ? 0 : 1;
  },
};


const check: Command = {
  words: ["check"],
  summary: "verify the wallet store: checksums, hash chains, records against a fold of the log",
  description: "Reads the directory without opening the wallet for writing. Exit status 0 when the store is sound, 1 when it found problems.",
  args: [],
  options: {},
  wallet: "none",
  async run(cx) {
    requireWalletDirectory(cx.global.wallet);
    const report = await verifyStore(cx.global.wallet);
    cx.print(report, () =>
      report.ok
        ? fields(cx.style, [
            ["store", status("ok")],
            ["events", String(report.events)],
            ["records", String(report.records)],
          ])
        : [fields(cx.style, [["store", status("failed")]]), ...report.problems.map((p) => `  ${p}`)].join("\n"),
    );
    return report.ok ? 0 : 1;
  },
};

export const maintenanceCommands: Command[] = [rebuild, check];

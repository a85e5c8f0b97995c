// Issue 13, bounded imports: one import's memory should not grow with the
// size of a huge batch beyond what atomicity needs (the batch the caller
// holds, its encoding for the hash chain, and the one write transaction).
// Measured in a child process: its RSS after loading the batch, and its peak
// RSS over the import, for a batch ten times smaller and the largest batch
// that imports in a few seconds here. The timing side is the benchmarks'.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { WalletEvent } from "../src/events/envelope.ts";
import { encodeEvent } from "../src/events/event-codec.ts";
import { historyDrafts } from "./support/history.ts";
import { startTsChild } from "./support/ts-child.ts";
import { tempDir } from "./support/temp-wallet.ts";

const SOAK = process.env.SOAK === "1";
const LARGE = Number(process.env.IMPORT_EVENTS ?? (SOAK ? 200_000 : 20_000));

const dirs: { cleanup(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};

/** A chained log of one remote device, built without a store (fast): what another device would export. */
function remoteLog(n: number): WalletEvent[] {
  const out: WalletEvent[] = [];
  let prev: string | undefined;
  for (const [i, d] of historyDrafts(n, "imp", 5).entries()) {
    const seq = i + 1;
    const e: WalletEvent = { data: d.data, deps: seq > 1 ? { remote: seq - 1 } : {}, device: "remote", lamport: seq, ...(prev ? { prev } : {}), seq, time: Date.UTC(2025, 0, 1), type: d.type };
    prev = encodeEvent(e).hash;
    out.push(e);
  }
  return out;
}

interface Measure {
  events: number;
  jsonBytes: number;
  result: { added: number; known: number };
  exported: number;
  rssBefore: number;
  peakBefore: number;
  peak: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  dataFile: number;
}

async function measure(n: number): Promise<Measure> {
  const dir = fresh();
  const file = join(dir, "batch.json");
  writeFileSync(file, JSON.stringify(remoteLog(n)));
  const child = startTsChild("import-rss-child.ts", [file, join(dir, "wallet")], { execArgv: ["--expose-gc"], timeoutMs: 120_000 });
  const line = await child.line();
  const { code, stderr } = await child.exited;
  expect(code, stderr).toBe(0);
  return JSON.parse(line) as Measure;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

describe("one large import", () => {
  it(`imports ${LARGE.toLocaleString("en")} events in one call; peak RSS over the import grows linearly with the batch, a bounded multiple of its JSON size`, async () => {
    const small = await measure(LARGE / 10);
    const large = await measure(LARGE);
    for (const m of [small, large]) {
      expect(m.result).toEqual({ added: m.events, known: 0 });
      expect(m.exported).toBe(m.events);
    }
    const growth = (m: Measure) => Math.max(0, m.peak - m.rssBefore);
    for (const m of [small, large]) {
      console.log(
        `import of ${m.events} events (${mb(m.jsonBytes)} JSON): RSS ${mb(m.rssBefore)} with the batch loaded, peak ${mb(m.peak)} (+${mb(growth(m))}, ${(growth(m) / m.jsonBytes).toFixed(2)} × the JSON size), ${mb(m.rssAfter)} after; JS heap ${mb(m.heapBefore)} → ${mb(m.heapAfter)}; wallet.mdb ${mb(m.dataFile)}`,
      );
    }
    // What atomicity needs is proportional to the batch (its encoding, one transaction's dirty pages, the
    // mapped pages of what it wrote): a bounded multiple of the JSON size, the same for a batch ten times larger.
    expect(growth(large)).toBeLessThan(16 * large.jsonBytes + 64 * 1024 * 1024);
    expect(growth(large) / large.jsonBytes).toBeLessThan(2 * Math.max(1, growth(small) / small.jsonBytes));
  }, 180_000);
});

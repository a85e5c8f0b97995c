// Child process of test/bounded-import.test.ts: imports one batch of events
// (a JSON file, as a host would receive it) into a new wallet in a single
// importEvents call, and reports the process's memory around it as one JSON
// line. Run with --expose-gc so "before" is measured without garbage.
//
//   node --expose-gc --import tsx test/support/import-rss-child.ts <batch.json> <wallet dir>
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { openWallet } from "../../src/wallet.ts";

const [file, dir] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const text = readFileSync(file, "utf8");
const events = JSON.parse(text) as unknown[];
const w = await openWallet({ path: dir });
gc();
const before = process.memoryUsage();
const peakBefore = process.resourceUsage().maxRSS * 1024;
const result = await w.importEvents(events as never);
const peak = process.resourceUsage().maxRSS * 1024;
gc();
const after = process.memoryUsage();
const exported = (await w.exportEvents()).length;
await w.close();
process.stdout.write(
  `${JSON.stringify({ events: events.length, jsonBytes: Buffer.byteLength(text), result, exported, rssBefore: before.rss, heapBefore: before.heapUsed, peakBefore, peak, rssAfter: after.rss, heapAfter: after.heapUsed, dataFile: statSync(join(dir, "wallet.mdb")).size })}\n`,
);

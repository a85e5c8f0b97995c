// Where one case allocates: runs it in this process under V8's sampling heap
// profiler, counting objects the garbage collector has already freed too (a
// CPU profile shows GC time, not who made the garbage). Prints the top
// allocation sites by bytes, self and inclusive, and writes the profile:
//   node --expose-gc --import tsx bench/allocations.ts <case> '<json CaseArgs>' [out.heapprofile]
// after prepare-own / prepare-multi have filled the data directory (see README).
// Open the .heapprofile in Chrome DevTools (Memory tab) for the whole tree.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { CASES, type CaseArgs } from "./cases.ts";

interface ProfileNode {
  callFrame: { functionName: string; url: string; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const [name, json, out = "allocations.heapprofile"] = process.argv.slice(2);
const run = CASES[name ?? ""];
if (!run || json === undefined) {
  console.error(`usage: bench/allocations.ts <${Object.keys(CASES).join("|")}> '<json args>' [out.heapprofile]`);
  process.exit(2);
}

const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");
// One sample per 4 KiB allocated; the two flags keep samples of objects already collected.
const sampling = { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
await session.post("HeapProfiler.startSampling", sampling);
const result = await run(JSON.parse(json) as CaseArgs);
const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: ProfileNode } };
session.disconnect();
writeFileSync(out, JSON.stringify(profile));

const site = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.columnNumber}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
// Iterative walk: a deep profile would overflow the stack of a recursive one.
const stack: { n: ProfileNode; above: string[] }[] = [{ n: profile.head, above: [] }];
while (stack.length > 0) {
  const { n, above } = stack.pop()!;
  const s = site(n);
  total += n.selfSize;
  self.set(s, (self.get(s) ?? 0) + n.selfSize);
  const path = above.includes(s) ? above : [...above, s];
  for (const a of path) inclusive.set(a, (inclusive.get(a) ?? 0) + n.selfSize);
  for (const c of n.children) stack.push({ n: c, above: path });
}

const mb = (b: number) => (b / 1e6).toFixed(1).padStart(8);
const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 25);
console.log(`${name}: ${result.events} events, ${(total / 1e6).toFixed(0)} MB allocated (${Math.round(total / Math.max(1, result.events))} B/event, sampled); profile in ${out}`);
console.log("MB, self:");
for (const [s, b] of top(self)) console.log(`${mb(b)}  ${s}`);
console.log("MB, inclusive:");
for (const [s, b] of top(inclusive)) console.log(`${mb(b)}  ${s}`);

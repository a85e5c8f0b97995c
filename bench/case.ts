// One benchmark case in its own process, so its peak RSS is its own:
//   node --expose-gc --import tsx bench/case.ts <case> '<json CaseArgs>'
// prints one line `RESULT {...}` (the case's figures, maxRssBytes of the
// whole process and `phase`, the resident memory of its timed phases).
// Run one by hand to profile it (add --cpu-prof); see bench/README.md.
import { CASES, type CaseArgs } from "./cases.ts";
import { maxRssBytes, phaseMemory, startMemorySampler } from "./measure.ts";

const [name, json] = process.argv.slice(2);
const run = CASES[name ?? ""];
if (!run || json === undefined) {
  console.error(`usage: bench/case.ts <${Object.keys(CASES).join("|")}> '<json args>'`);
  process.exit(2);
}
await startMemorySampler();
const result = await run(JSON.parse(json) as CaseArgs);
console.log(`RESULT ${JSON.stringify({ ...result, maxRssBytes: result.peer?.maxRssBytes ?? maxRssBytes(), phase: result.peer?.phase ?? phaseMemory() })}`);

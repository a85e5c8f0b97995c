// Child process of verifyStore (verify-store.ts): walks one wallet store
// read-only and prints the report as one JSON line. lmdb-js can crash the
// process on a damaged page; that is why this runs apart from the host.
//
//   node verify-store-child.js <wallet directory>
import { inspectStore } from "../events/store-inspect.ts";
import { PROJECTIONS } from "../projections/index.ts";

const dir = process.argv[2];
// Says the child got as far as the walk: a death after this line is the store's doing, not a broken install.
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
if (!dir) {
  process.stdout.write(`${JSON.stringify({ ok: false, problems: ["no wallet directory given"], events: 0, records: 0 })}\n`);
} else {
  try {
    const report = await inspectStore(dir, PROJECTIONS);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } catch (e) {
    // inspectStore reports what it meets; what it could not even start on (lmdb refusing the file) is a problem too.
    process.stdout.write(`${JSON.stringify({ ok: false, problems: [`cannot walk the store: ${(e as Error)?.message ?? String(e)}`], events: 0, records: 0 })}\n`);
  }
}

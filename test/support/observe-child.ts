// Child process of the damage and open tests: opens wallets that may be
// damaged and observes everything a host could read, in a process of its own
// (a damaged data file can crash lmdb-js natively).
//
//   node --import tsx test/support/observe-child.ts
//
// Reads one wallet directory per line on stdin. For each it prints
// {"begin":<dir>}, then one JSON line: the observation, or where and how it
// was refused. The parent learns of a crash from the exit (a begin without
// its result names the directory that crashed it).
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { WalletError } from "../../src/errors.ts";
import { openWallet, type Wallet } from "../../src/wallet.ts";

export type Observation =
  | {
      dir: string;
      outcome: "observed";
      deviceId: string;
      /** Digests of what each read answered. */
      events: string;
      eventCount: number;
      dump: string;
      balances: string;
      conflicts: string;
      clock: string;
      /** The dump after rebuild(): equal to `dump` when the projections were what the log implies. */
      rebuiltDump: string;
    }
  | { dir: string; outcome: "refused"; step: string; code: string; message: string }
  | { dir: string; outcome: "raw"; step: string; error: string };

const digest = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 32);

async function observe(dir: string): Promise<Observation> {
  let step = "open";
  let w: Wallet | undefined;
  try {
    w = await openWallet({ path: dir, now: () => Date.UTC(2025, 5, 1) });
    step = "exportEvents";
    const events = await w.exportEvents();
    step = "dumpProjections";
    const dump = await w.dumpProjections();
    step = "getBalances";
    const balances = await w.getBalances();
    step = "listConflicts";
    const conflicts = await w.listConflicts();
    step = "getVectorClock";
    const clock = await w.getVectorClock();
    step = "rebuild";
    await w.rebuild();
    step = "dumpProjections after rebuild";
    const rebuilt = await w.dumpProjections();
    step = "close";
    await w.close();
    return {
      dir,
      outcome: "observed",
      deviceId: w.deviceId,
      events: digest(events),
      eventCount: events.length,
      dump: digest(dump),
      balances: digest(balances),
      conflicts: digest(conflicts),
      clock: digest(clock),
      rebuiltDump: digest(rebuilt),
    };
  } catch (e) {
    await w?.close().catch(() => {});
    // internal-error is the engine's wrapping of a raw exception: a raw error in all but name.
    if (e instanceof WalletError && e.code !== "internal-error") return { dir, outcome: "refused", step, code: e.code, message: e.message };
    return { dir, outcome: "raw", step, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

const input = createInterface({ input: process.stdin });
for await (const dir of input) {
  if (dir === "") continue;
  process.stdout.write(`${JSON.stringify({ begin: dir })}\n`);
  process.stdout.write(`${JSON.stringify(await observe(dir))}\n`);
}

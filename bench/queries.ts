// Query latency on a large history, and the cost of reopening it. Queries
// read materialized projection records, so their cost must not grow with the
// log; reopening must not replay the log (a rebuild is timed for contrast).
import { cpSync } from "node:fs";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { EXCHANGES } from "./event-mix.ts";
import { latencyUs, median, timeMsAsync } from "./measure.ts";
import type { Workspace } from "./workspace.ts";

export interface QueryFigures {
  /** Median µs per call. */
  latencyUs: Record<string, number>;
  reopenMs: number;
  rebuildMs: number;
  balances: string;
  conflicts: number;
}

const CALLS = 500;

export async function measureQueries(ws: Workspace, template: string, reps: number): Promise<QueryFigures> {
  const path = ws.fresh("queries");
  cpSync(template, path, { recursive: true });
  let wallet: Wallet = await openWallet({ path });
  const url = EXCHANGES[0].url;
  const queries: Record<string, () => Promise<unknown>> = {
    getBalances: () => wallet.getBalances(),
    listExchanges: () => wallet.listExchanges(),
    getExchangeResources: () => wallet.getExchangeResources({ exchangeBaseUrl: url }),
    listConflicts: () => wallet.listConflicts(),
  };
  try {
    const latency: Record<string, number> = {};
    for (const [name, q] of Object.entries(queries)) latency[name] = await latencyUs(q, CALLS);

    const before = JSON.stringify(await wallet.getBalances());
    const reopen: number[] = [];
    for (let r = 0; r < reps; r++) {
      reopen.push(
        await timeMsAsync(async () => {
          await wallet.close();
          wallet = await openWallet({ path });
        }),
      );
    }
    const after = JSON.stringify(await wallet.getBalances());
    if (after !== before) throw new Error(`balances changed across reopen: ${before} vs ${after}`);

    const rebuildMs = await timeMsAsync(() => wallet.rebuild());
    const { balances } = await wallet.getBalances();
    const { conflicts } = await wallet.listConflicts();
    return {
      latencyUs: latency,
      reopenMs: median(reopen),
      rebuildMs,
      balances: balances.map((b) => b.available).join(", "),
      conflicts: conflicts.length,
    };
  } finally {
    await wallet.close();
  }
}

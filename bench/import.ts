// Importing a remote device's log: 100k events authored by another store
// (its own device id, its own coins), exported with exportFrom, merged in one
// importEvents call into a wallet that already holds 100k events of its own.
import { cpSync } from "node:fs";
import type { WalletEvent } from "../src/events/envelope.ts";
import { exportFrom } from "../src/merge/log-merge.ts";
import { openWallet } from "../src/wallet.ts";
import { appendInBatches, openBenchStore } from "./append.ts";
import { eventMix } from "./event-mix.ts";
import { timeMsAsync } from "./measure.ts";
import type { Workspace } from "./workspace.ts";

export const LOCAL_DEVICE = "LOCALDEVICE";
export const REMOTE_DEVICE = "REMOTEDEVICE";

export interface ImportFixture {
  /** A closed wallet directory holding `n` local events: copied, never opened, by each repetition. */
  localTemplate: string;
  remote: WalletEvent[];
}

/** Builds the local history and the remote log once, outside any timing. */
export async function prepareImport(ws: Workspace, n: number): Promise<ImportFixture> {
  const localTemplate = ws.fresh("import-local-template");
  const local = await openBenchStore(localTemplate, LOCAL_DEVICE);
  appendInBatches(local, eventMix("local", n), n);
  await local.close();

  const remoteStore = await openBenchStore(ws.fresh("import-remote"), REMOTE_DEVICE);
  appendInBatches(remoteStore, eventMix("remote", n), n);
  const remote = exportFrom(remoteStore) as WalletEvent[];
  await remoteStore.close();
  return { localTemplate, remote };
}

/** A fresh copy of the local wallet, then one timed importEvents of the whole remote log. Returns ms. */
export async function importOnce(ws: Workspace, fx: ImportFixture): Promise<number> {
  const path = ws.fresh("import");
  cpSync(fx.localTemplate, path, { recursive: true });
  const wallet = await openWallet({ path });
  try {
    let added = -1;
    const ms = await timeMsAsync(async () => {
      ({ added } = await wallet.importEvents(fx.remote));
    });
    if (added !== fx.remote.length) throw new Error(`import added ${added} of ${fx.remote.length} events`);
    return ms;
  } finally {
    await wallet.close();
  }
}

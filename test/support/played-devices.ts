// A random history played on three devices, their wallets then reopened as
// bare stores. Every store opened through `opened` is closed, and the
// directory removed, when the body ends.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store, type StoreOptions } from "../../src/events/store.ts";
import { PROJECTIONS } from "../../src/projections/index.ts";
import { deviceName, Simulation, type History } from "../../src/testing/index.ts";

export interface PlayedDevices {
  root: string;
  /** The three devices' stores, in device order. */
  devices: Store[];
  /** Opens a store (closed at the end). */
  open(path: string, deviceId: string, overlayRecords?: StoreOptions["overlayRecords"]): Promise<Store>;
  /** Closes `s` now (its directory can then be copied or reopened). */
  close(s: Store): Promise<void>;
}

export async function withPlayedDevices(h: History, label: string, body: (p: PlayedDevices) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), `${label}-`));
  const stores: Store[] = [];
  const open = async (path: string, deviceId: string, overlayRecords?: StoreOptions["overlayRecords"]) => {
    const s = await openStore({ path, deviceId, projections: PROJECTIONS, overlayRecords });
    stores.push(s);
    return s;
  };
  try {
    const sim = await Simulation.play(h, { dir: join(root, "sim") });
    await sim.close();
    const devices = await Promise.all([0, 1, 2].map((i) => open(join(root, "sim", deviceName(i)), deviceName(i))));
    await body({
      root,
      devices,
      open,
      async close(s) {
        stores.splice(stores.indexOf(s), 1);
        await s.close();
      },
    });
  } finally {
    for (const s of stores) await s.close();
    rmSync(root, { recursive: true, force: true });
  }
}

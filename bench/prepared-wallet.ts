// A large wallet for the backup and sync benchmarks, prepared once (untimed,
// slow at 1M: the engine's import rate) and reused from its directory:
// "history" is the storage benchmark's multi-device history (three devices
// that merge now and then, N events in all, held by the first device at the
// end); "peers" is the 3-device merge workload (N operations per device,
// merged into the first).
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openAppender } from "./engine.ts";
import { generateHistory } from "./history.ts";
import { draftOf, PEER_DEVICES, peerOps } from "./peer-workload.ts";
import { MULTI_DEVICES } from "./prepare.ts";

export type Workload = "history" | "peers";

export async function prepare(dir: string, workload: Workload, n: number, seed: number): Promise<{ wallet: string; device: string }> {
  const devices = workload === "history" ? MULTI_DEVICES : PEER_DEVICES;
  const paths = devices.map((d) => join(dir, d));
  const done = join(dir, "prepared");
  if (existsSync(done)) return { wallet: paths[0], device: devices[0] };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const aps = await Promise.all(devices.map((d, i) => openAppender(paths[i], d)));
  if (workload === "history") {
    for (const step of generateHistory({ seed, devices, events: n, maxBurst: 500 })) {
      if (step.kind === "append") aps[step.device].appendTransaction(step.drafts);
      else aps[step.to].importEvents(aps[step.from].exportEvents(aps[step.to].vectorClock()));
    }
  } else {
    for (let d = 0; d < devices.length; d++) {
      const ops = peerOps(seed, d, n);
      for (let i = 0; i < ops.length; i += 1_000) aps[d].appendTransaction(ops.slice(i, i + 1_000).map(draftOf));
    }
    for (let from = 1; from < devices.length; from++) {
      const events = aps[from].exportEvents(aps[0].vectorClock());
      for (let i = 0; i < events.length; i += 50_000) aps[0].importEvents(events.slice(i, i + 50_000));
    }
  }
  for (const a of aps) await a.close();
  for (const p of paths.slice(1)) rmSync(p, { recursive: true, force: true });
  writeFileSync(done, JSON.stringify({ workload, n, seed, preparedMs: Date.now() - t0 }));
  return { wallet: paths[0], device: devices[0] };
}

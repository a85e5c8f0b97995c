// The backup cycle of a large wallet against a sync server on loopback: the
// time of each kind of cycle, medians of a few rounds with min and max.
//
//   npx tsx bench/sync-cycle.ts                       a 100k-event wallet, 3 rounds
//   npx tsx bench/sync-cycle.ts --events 20000 --rounds 5
//   npx tsx bench/sync-cycle.ts --keep /tmp/sc        keep (and reuse) the prepared wallet there
//
// Each round works on a fresh copy of the prepared wallet and a fresh server
// (LMDB backend, in this process):
//   first upload  addBackupProvider + runBackupCycle: export, encrypt, POST (204)
//   quiet         runBackupCycle with nothing new: one GET, nothing uploaded
//   restore       a new device loads the recovery: GET, decrypt, import every event
//   409 cycle     the new device records one event; its first upload loses (409),
//                 it merges the server's blob (every event already known), exports
//                 and uploads again (204)
//   merge cycle   the first device records one event; its upload loses to the new
//                 device's (409): it merges one new event among N, exports, uploads
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openWallet, startSyncServer, type Wallet } from "../src/index.ts";
import { stat, type Stat } from "./measure.ts";
import { prepare } from "./prepared-wallet.ts";
import { machineInfo } from "./report.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const NOW = 1_700_000_000_000;
const PHASES = ["first upload", "quiet", "restore", "409 cycle", "merge cycle"] as const;
type Phase = (typeof PHASES)[number];

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

function expectOutcome(r: Awaited<ReturnType<Wallet["runBackupCycle"]>>, outcome: string, uploads: number): void {
  const p = r.providers[0];
  if (p.outcome !== outcome || p.uploads !== uploads) throw new Error(`expected ${outcome} after ${uploads} upload(s), got ${JSON.stringify(p)}`);
}

async function round(prepared: string, scratch: string): Promise<{ ms: Record<Phase, number>; blobBytes: number; events: number }> {
  const walletDir = join(scratch, "wallet");
  cpSync(prepared, walletDir, { recursive: true });
  const server = await startSyncServer({ port: 0, host: "127.0.0.1", path: join(scratch, "server"), storageLimitInMegabytes: 256 });
  const a = await openWallet({ path: walletDir, now: () => NOW, httpTimeoutMs: 600_000 });
  const b = await openWallet({ path: join(scratch, "new-device"), deviceId: "new-device", now: () => NOW, httpTimeoutMs: 600_000 });
  try {
    const ms = {} as Record<Phase, number>;
    const events = Object.values(await a.getVectorClock()).reduce((x, y) => x + y, 0);
    let r;
    [ms["first upload"], r] = await timed(async () => {
      await a.addBackupProvider({ backupProviderBaseUrl: server.baseUrl, activate: true });
      return a.runBackupCycle();
    });
    expectOutcome(r, "stored", 1);
    const blobBytes = (await a.exportBackupEncrypted()).length;
    [ms.quiet, r] = await timed(() => a.runBackupCycle());
    expectOutcome(r, "unchanged", 0);
    const recovery = await a.getBackupRecovery();
    [ms.restore] = await timed(() => b.loadBackupRecovery({ recovery, strategy: "theirs" }));
    await b.addExchange({ exchangeBaseUrl: "https://new-device.example/" });
    [ms["409 cycle"], r] = await timed(() => b.runBackupCycle());
    expectOutcome(r, "stored", 2);
    await a.addExchange({ exchangeBaseUrl: "https://first-device.example/" });
    [ms["merge cycle"], r] = await timed(() => a.runBackupCycle());
    expectOutcome(r, "stored", 2);
    if (r.providers[0].merged !== 1) throw new Error(`the merge cycle merged ${r.providers[0].merged} events, expected 1`);
    return { ms, blobBytes, events };
  } finally {
    await a.close();
    await b.close();
    await server.close();
  }
}

const fmt = (s: Stat) => `${Math.round(s.median).toLocaleString("en-US")} (${Math.round(s.min).toLocaleString("en-US")}–${Math.round(s.max).toLocaleString("en-US")})`;

async function main() {
  const n = Number(arg("events") ?? 100_000);
  const rounds = Number(arg("rounds") ?? 3);
  const seed = Number(arg("seed") ?? 1);
  const keep = arg("keep");
  const root = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), "bench-sync-cycle-"));
  try {
    const { wallet } = await prepare(join(root, `history-${n}-${seed}`), "history", n, seed);
    const samples: Record<Phase, number[]> = Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, number[]>;
    let blobBytes = 0;
    let events = 0;
    for (let i = 0; i < rounds; i++) {
      const scratch = mkdtempSync(join(tmpdir(), "bench-sync-round-"));
      try {
        const r = await round(wallet, scratch);
        for (const p of PHASES) samples[p].push(r.ms[p]);
        blobBytes = r.blobBytes;
        events = r.events;
        console.error(JSON.stringify({ round: i + 1, ...r }));
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
    const md = [
      `# Sync cycle benchmark`,
      "",
      `From ${new Date().toISOString()}, ${machineInfo()}. A ${events.toLocaleString("en-US")}-event wallet (bench/history.ts, seed ${seed}); its encrypted backup is ${blobBytes.toLocaleString("en-US")} B. Sync server (LMDB backend) on loopback in the same process. Milliseconds, median (min–max) of ${rounds} rounds, each on a fresh copy of the wallet and a fresh server.`,
      "",
      "| cycle | what it does | ms |",
      "| :--- | :--- | ---: |",
      `| first upload | addBackupProvider (GET /config) + export, encrypt, POST → 204 | ${fmt(stat(samples["first upload"]))} |`,
      `| quiet | nothing new: GET, same hash, nothing uploaded | ${fmt(stat(samples.quiet))} |`,
      `| restore | a new device loads the recovery: GET, decrypt, import all events | ${fmt(stat(samples.restore))} |`,
      `| 409 cycle | new device, 1 new event: POST → 409, merge the server's blob (all known), export, POST → 204 | ${fmt(stat(samples["409 cycle"]))} |`,
      `| merge cycle | first device, 1 new event: POST → 409, merge (1 new event), export, POST → 204 | ${fmt(stat(samples["merge cycle"]))} |`,
      "",
    ].join("\n");
    console.log(md);
    const out = arg("out");
    if (out) writeFileSync(out, md);
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
}

await main();

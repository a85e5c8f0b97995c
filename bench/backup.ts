// Backups of large histories: export + encrypt, decrypt + import, the blob's
// bytes and bytes per event, beside the shared log as gzip'd JSON.
//
//   npx tsx bench/backup.ts                                  history workload, 100k and 300k events
//   npx tsx bench/backup.ts --events 1000000                 a 1M-event history
//   npx tsx bench/backup.ts --workload peers --events 100000 the 3-device merge workload, 100k ops per device
//   npx tsx bench/backup.ts --keep /tmp/bk                   keep (and reuse) the prepared wallets there
//
// Workloads: "history" is the storage benchmark's multi-device history
// (bench/history.ts: three devices that merge now and then, N events in all,
// device devX holding all of them at the end); "peers" is the 3-device merge
// workload (bench/peer-workload.ts, N operations per device, then merged).
// Preparing is untimed and slow at 1M (the engine's import rate); each timed
// phase runs in its own child process, so peak RSS is the phase's own.
// Each size is measured twice: the full log (compaction off, the engine's
// default), then a copy of the same wallet compacted at export
// (`compactBackupsAbove: 0`: the events every known device holds travel as a
// snapshot, the rest as the log's tail).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createGzip, gzipSync } from "node:zlib";
import { openBenchWallet } from "./engine.ts";
import { collectGarbage, maxRssBytes, timeMsAsync } from "./measure.ts";
import { prepare, type Workload } from "./prepared-wallet.ts";
import { machineInfo } from "./report.ts";
import { canonicalJson, decryptBackupFile, openWallet } from "../src/index.ts";


interface PhaseResult {
  ms: number;
  maxRssBytes: number;
  [k: string]: unknown;
}

const NOW = 1_700_000_000_000;
const SELF = fileURLToPath(import.meta.url);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---------------------------------------------------------------- phases (each in a child process)

async function phaseExport(wallet: string, out: string, mode: string): Promise<PhaseResult> {
  // Compaction off: a threshold no wallet reaches.
  const w = await openWallet({ path: wallet, now: () => NOW, compactBackupsAbove: mode === "compact" ? 0 : Number.MAX_SAFE_INTEGER });
  try {
    const events = Object.values(await w.getVectorClock()).reduce((a, b) => a + b, 0);
    collectGarbage();
    let blob!: Uint8Array;
    const ms = await timeMsAsync(async () => (blob = await w.exportBackupEncrypted()));
    const rss = maxRssBytes();
    const recovery = await w.getBackupRecovery();
    writeFileSync(out, blob);
    writeFileSync(`${out}.key`, recovery.walletRootPriv);
    const plain = decryptBackupFile(blob, recovery.walletRootPriv) as { strings: string[]; log: unknown; snapshot?: { frontier: Record<string, number> } };
    const plainBytes = Buffer.byteLength(canonicalJson(plain));
    const logOnly = gzipSync(Buffer.from(canonicalJson({ strings: plain.strings, log: plain.log }))).length;
    const folded = plain.snapshot ? Object.values(plain.snapshot.frontier).reduce((a, b) => a + b, 0) : 0;
    return { ms, maxRssBytes: rss, events, folded, blobBytes: blob.length, plainBytes, logGzipBytes: logOnly };
  } finally {
    await w.close();
  }
}

async function phaseImport(blobPath: string, target: string): Promise<PhaseResult> {
  rmSync(target, { recursive: true, force: true });
  const w = await openWallet({ path: target, deviceId: "restored", now: () => NOW });
  try {
    const blob = new Uint8Array(readFileSync(blobPath));
    const walletRootPriv = readFileSync(`${blobPath}.key`, "utf8");
    collectGarbage();
    let added = 0;
    const ms = await timeMsAsync(async () => ({ added } = await w.importBackupEncrypted(blob, { walletRootPriv })));
    return { ms, maxRssBytes: maxRssBytes(), added, clock: await w.getVectorClock() };
  } finally {
    await w.close();
    rmSync(target, { recursive: true, force: true });
  }
}

/** The baseline: every shared event as JSON, gzip'd (what a naive log backup would be). */
async function phaseBaseline(wallet: string): Promise<PhaseResult> {
  const w = await openBenchWallet(wallet);
  try {
    const events = await w.exportEvents();
    // Streamed: a million events are more JSON than one string can hold.
    const gz = createGzip();
    let gzipJsonBytes = 0;
    gz.on("data", (b: Buffer) => (gzipJsonBytes += b.length));
    const ended = new Promise((resolve) => gz.on("end", resolve));
    for (let i = 0; i < events.length; i += 10_000) {
      const part = JSON.stringify(events.slice(i, i + 10_000)).slice(1, -1);
      gz.write(`${i === 0 ? "[" : ","}${part}`);
    }
    gz.end(events.length === 0 ? "[]" : "]");
    await ended;
    return { ms: 0, maxRssBytes: maxRssBytes(), gzipJsonBytes, clock: await w.vectorClock() };
  } finally {
    await w.close();
  }
}

function runPhase(args: string[]): PhaseResult {
  const r = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx", SELF, "--phase", ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (r.status !== 0 || !line) throw new Error(`phase ${args[0]} failed (${r.status}):\n${r.stderr.slice(-4000)}`);
  return JSON.parse(line.slice(7)) as PhaseResult;
}

// ---------------------------------------------------------------- main

const MiB = 1024 * 1024;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main() {
  const phase = arg("phase");
  if (phase) {
    const [, , , , a, b, c] = process.argv;
    const result = phase === "export" ? await phaseExport(a, b, c) : phase === "import" ? await phaseImport(a, b) : await phaseBaseline(a);
    console.log(`RESULT ${JSON.stringify(result)}`);
    return;
  }
  const workload = (arg("workload") ?? "history") as Workload;
  const sizes = (arg("events") ?? "100000,300000").split(",").map(Number);
  const seed = Number(arg("seed") ?? 1);
  const keep = arg("keep");
  const root = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), "bench-backup-"));
  const rows: Record<string, unknown>[] = [];
  try {
    for (const n of sizes) {
      const dir = join(root, `${workload}-${n}-${seed}`);
      const t0 = Date.now();
      const { wallet } = await prepare(dir, workload, n, seed);
      console.error(`${workload} ${n}: prepared in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const base = runPhase(["baseline", wallet]);
      for (const mode of ["full", "compact"] as const) {
        // Compacting moves the wallet's base: the compacted export works on a copy.
        const source = mode === "full" ? wallet : join(dir, "compacted");
        if (mode === "compact") {
          rmSync(source, { recursive: true, force: true });
          cpSync(wallet, source, { recursive: true });
        }
        const blob = join(dir, `backup-${mode}.tlrwbk`);
        const exp = runPhase(["export", source, blob, mode]);
        const imp = runPhase(["import", blob, join(dir, "restored")]);
        if (mode === "compact") rmSync(source, { recursive: true, force: true });
        if (canonicalJson(imp.clock) !== canonicalJson(base.clock)) throw new Error("the restored wallet does not hold the whole log");
        const events = exp.events as number;
        const row = {
          workload,
          mode,
          n: workload === "history" ? n : 3 * n,
          events,
          folded: exp.folded,
          blobBytes: exp.blobBytes,
          bytesPerEvent: (exp.blobBytes as number) / events,
          logGzipBytes: exp.logGzipBytes,
          plainBytes: exp.plainBytes,
          gzipJsonBytes: base.gzipJsonBytes,
          exportMs: exp.ms,
          exportRssMiB: exp.maxRssBytes / MiB,
          importMs: imp.ms,
          importRssMiB: imp.maxRssBytes / MiB,
        };
        rows.push(row);
        console.error(JSON.stringify(row));
      }
    }
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
  const md = [
    `# Backup benchmark (${workload})`,
    "",
    `From ${new Date().toISOString()}, ${machineInfo()}; seed ${seed}. "full": compaction off, the whole log; "compacted": the events below the stable frontier as a snapshot, the rest as the log's tail.`,
    "",
    "| events | backup | in the snapshot | encrypted backup | bytes/event | of which log (gzip) | plain JSON | shared log as gzip'd JSON | export + encrypt ms | peak RSS MiB | decrypt + import ms | peak RSS MiB |",
    "| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${fmt(r.events as number)} | ${r.mode === "full" ? "full" : "compacted"} | ${fmt(r.folded as number)} | ${fmt(r.blobBytes as number)} B (${((r.blobBytes as number) / MiB).toFixed(2)} MiB) | ${(r.bytesPerEvent as number).toFixed(1)} | ${fmt(r.logGzipBytes as number)} | ${fmt(r.plainBytes as number)} | ${fmt(r.gzipJsonBytes as number)} B | ${fmt(r.exportMs as number)} | ${fmt(r.exportRssMiB as number)} | ${fmt(r.importMs as number)} | ${fmt(r.importRssMiB as number)} |`,
    ),
    "",
  ].join("\n");
  console.log(md);
  const out = arg("out");
  if (out) writeFileSync(out, md);
}

await main();

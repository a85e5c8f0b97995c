// The encrypted backup file (TLRWBK01) on event-log-sized content: encrypt and
// decrypt with each gzip implementation, and gzip/gunzip alone, so the
// secretbox share is visible. Medians of interleaved repetitions.
//   npx tsx bench/backup-file.ts              sizes 1, 8 and 40 MiB
//   BENCH_BACKUP_MIB=1,8 npx tsx bench/backup-file.ts
import { pathToFileURL } from "node:url";
import { fflateGzip, type GzipCodec, type GzipImplementation } from "../src/backup/gzip.ts";
import { nodeZlibGzip } from "../src/backup/gzip-node.ts";
import { DEFAULT_MAX_PLAIN_BYTES, decryptBackupBytes, encryptBackupBytes } from "../src/backup/file.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { generateHistory } from "./history.ts";
import { median, timeMs } from "./measure.ts";
import { machineInfo } from "./report.ts";

const CODECS: GzipCodec[] = [fflateGzip, nodeZlibGzip];
const MiB = 1024 * 1024;

/**
 * Canonical JSON of a plain backup around an event log, at least `bytes` long:
 * envelopes with 52-char device ids and 103-char hash links around the bench's
 * realistic event mix (withdrawals of 10 coins with 52/103-char keys, spends,
 * ToS, /keys facts with amounts and URLs).
 */
export function backupLikeJson(bytes: number): string {
  const device = encodeCrock(sha512("bench-device").subarray(0, 32));
  const other = encodeCrock(sha512("bench-other-device").subarray(0, 32));
  const events: object[] = [];
  let size = 0;
  let prev: string | undefined;
  // Drafts come in batches so the mix keeps its shape at every size.
  for (let batch = 0; size < bytes; batch++) {
    const drafts = [...generateHistory({ seed: batch + 1, devices: ["bench"], events: 2_000 })].flatMap((s) => (s.kind === "append" ? s.drafts : []));
    for (const d of drafts) {
      const seq = events.length + 1;
      const e = {
        device,
        seq,
        lamport: seq + 3,
        deps: seq % 7 === 0 ? { [other]: Math.floor(seq / 7) } : {},
        time: 1_763_769_600_000 + seq * 1_000,
        prev,
        type: d.type,
        data: d.data,
      };
      const text = canonicalJson(e);
      prev = encodeCrock(sha512(text));
      size += text.length + 1;
      events.push(e);
      if (size >= bytes) break;
    }
  }
  return canonicalJson({
    schema_id: "gnu-taler-wallet-backup-content",
    schema_version: 1,
    wallet_root_pub: encodeCrock(sha512("bench-root").subarray(0, 32)),
    current_device_id: device,
    timestamp: { t_s: 1_763_769_600 },
    clocks: { [device]: events.length, [other]: Math.floor(events.length / 7) },
    events,
  });
}

export interface BackupFileRow {
  sizeMiB: number;
  plainBytes: number;
  gzip: GzipImplementation;
  fileBytes: number;
  reps: number;
  encryptMs: number;
  decryptMs: number;
  gzipMs: number;
  gunzipMs: number;
}

export async function benchBackupFile(opts: { sizesMiB: number[]; reps?: number }): Promise<{ machine: string; rows: BackupFileRow[] }> {
  const seed = sha512("bench-root-seed").subarray(0, 32);
  const rows: BackupFileRow[] = [];
  for (const sizeMiB of opts.sizesMiB) {
    const text = backupLikeJson(sizeMiB * MiB);
    const plain = new TextEncoder().encode(text);
    const reps = opts.reps ?? (sizeMiB >= 32 ? 3 : 5);
    const t = CODECS.map(() => ({ enc: [] as number[], dec: [] as number[], gz: [] as number[], gunz: [] as number[], fileBytes: 0 }));
    // Interleaved: each repetition runs every implementation once, so noise hits all alike.
    for (let r = 0; r < reps + 1; r++) {
      CODECS.forEach((c, k) => {
        let file: Uint8Array = new Uint8Array(0);
        let gz: Uint8Array = new Uint8Array(0);
        const enc = timeMs(() => (file = encryptBackupBytes(text, seed, { gzip: c.name })));
        const dec = timeMs(() => {
          if (decryptBackupBytes(file, seed, { gzip: c.name }).length !== text.length) throw new Error("round trip failed");
        });
        const gzt = timeMs(() => (gz = c.gzip(plain)));
        const gunzt = timeMs(() => c.gunzip(gz, DEFAULT_MAX_PLAIN_BYTES));
        if (r === 0) return; // warm-up
        t[k].enc.push(enc);
        t[k].dec.push(dec);
        t[k].gz.push(gzt);
        t[k].gunz.push(gunzt);
        t[k].fileBytes = file.length;
      });
    }
    CODECS.forEach((c, k) =>
      rows.push({
        sizeMiB,
        plainBytes: plain.length,
        gzip: c.name,
        fileBytes: t[k].fileBytes,
        reps,
        encryptMs: median(t[k].enc),
        decryptMs: median(t[k].dec),
        gzipMs: median(t[k].gz),
        gunzipMs: median(t[k].gunz),
      }),
    );
  }
  return { machine: machineInfo(), rows };
}

export function renderBackupFile(result: { machine: string; rows: BackupFileRow[] }): string {
  const int = (x: number) => Math.round(x).toLocaleString("en-US");
  const ms = (x: number) => x.toFixed(1);
  const lines = [
    `Machine: ${result.machine}. Medians of interleaved repetitions (after one warm-up).`,
    "",
    "| plain JSON | gzip | file bytes | ratio | encrypt ms | decrypt ms | gzip alone ms | gunzip alone ms | reps |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of result.rows) {
    lines.push(
      `| ${int(r.plainBytes)} B (${r.sizeMiB} MiB) | ${r.gzip} | ${int(r.fileBytes)} | ${(r.plainBytes / r.fileBytes).toFixed(2)} | ${ms(r.encryptMs)} | ${ms(r.decryptMs)} | ${ms(r.gzipMs)} | ${ms(r.gunzipMs)} | ${r.reps} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const sizes = (process.env.BENCH_BACKUP_MIB ?? "1,8,40").split(",").map(Number);
  console.log(renderBackupFile(await benchBackupFile({ sizesMiB: sizes })));
}

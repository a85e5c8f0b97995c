// Taler's kdf and SHA-512 on @noble/hashes (runs in browsers) against node:crypto
// (native), to decide which one each call site uses. Medians of interleaved
// samples, so both sides see the same machine noise.
//   npx tsx bench/hashes.ts        prints a markdown table
import { createHash, createHmac } from "node:crypto";
import { pathToFileURL } from "node:url";
import { sha512 as nobleSha512 } from "@noble/hashes/sha2.js";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { kdf } from "../src/codec/kdf.ts";
import { median } from "./measure.ts";

const utf8 = new TextEncoder();

/** The same kdf on node:crypto's HMACs (what src/codec/kdf.ts used before). */
function kdfNode(outLen: number, ikm: Uint8Array, salt: string, info: string): Uint8Array {
  const prk = createHmac("sha512", salt).update(ikm).digest();
  const infoBytes = utf8.encode(info);
  const out = new Uint8Array(outLen);
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1, pos = 0; pos < outLen; i++) {
    prev = createHmac("sha256", prk).update(prev).update(infoBytes).update(Uint8Array.of(i)).digest();
    const take = Math.min(prev.length, outLen - pos);
    out.set(prev.subarray(0, take), pos);
    pos += take;
  }
  return out;
}

function sha512Node(data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash("sha512").update(data).digest());
}

function sha512Noble(data: Uint8Array | string): Uint8Array {
  return nobleSha512(typeof data === "string" ? utf8.encode(data) : data);
}

export interface HashCase {
  case: string;
  implementation: "noble" | "node:crypto";
  callsPerSample: number;
  medianMicrosPerCall: number;
  callsPerSecond: number;
}

/** A typical event hashed on append: canonical JSON of ~600 bytes, as a string. */
function eventLikeText(): string {
  return canonicalJson({
    device: "D".repeat(52),
    seq: 123456,
    lamport: 234567,
    deps: { ["A".repeat(52)]: 99, ["B".repeat(52)]: 1234 },
    time: 1_763_769_600_000,
    prev: "P".repeat(103),
    type: "coin-withdrawn",
    data: {
      exchangeBaseUrl: "https://exchange.demo.taler.net/",
      withdrawalGroupId: "W".repeat(52),
      coins: [{ coinPub: "C".repeat(52), denomPubHash: "H".repeat(103), value: "KUDOS:5" }],
    },
  });
}

export async function benchHashes(opts: { samples?: number; callsPerSample?: number } = {}): Promise<HashCase[]> {
  const samples = opts.samples ?? 9;
  const calls = opts.callsPerSample ?? 20_000;
  const ikm = new Uint8Array(32).fill(7);
  const text = eventLikeText();
  const salt = "taler-sync-blob-secret-salt";
  const info = "taler-sync-blob-secret-info";
  const cases: { name: string; impl: HashCase["implementation"]; fn: () => unknown }[] = [
    { name: "kdf(32)", impl: "noble", fn: () => kdf(32, ikm, salt, info) },
    { name: "kdf(32)", impl: "node:crypto", fn: () => kdfNode(32, ikm, salt, info) },
    { name: "kdf(64)", impl: "noble", fn: () => kdf(64, ikm, salt, info) },
    { name: "kdf(64)", impl: "node:crypto", fn: () => kdfNode(64, ikm, salt, info) },
    { name: `sha512 of a ${utf8.encode(text).length} B event string`, impl: "noble", fn: () => sha512Noble(text) },
    { name: `sha512 of a ${utf8.encode(text).length} B event string`, impl: "node:crypto", fn: () => sha512Node(text) },
  ];
  const times = cases.map(() => [] as number[]);
  for (const c of cases) for (let i = 0; i < 2000; i++) c.fn(); // warm up the JIT
  for (let s = 0; s < samples; s++) {
    cases.forEach((c, k) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) c.fn();
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e3 / calls);
    });
  }
  return cases.map((c, k) => {
    const us = median(times[k]);
    return { case: c.name, implementation: c.impl, callsPerSample: calls, medianMicrosPerCall: us, callsPerSecond: 1e6 / us };
  });
}

export function renderHashes(rows: HashCase[]): string {
  const lines = ["| case | implementation | µs/call (median) | calls/s |", "| --- | --- | ---: | ---: |"];
  for (const r of rows) {
    lines.push(`| ${r.case} | ${r.implementation} | ${r.medianMicrosPerCall.toFixed(2)} | ${Math.round(r.callsPerSecond).toLocaleString("en-US")} |`);
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(renderHashes(await benchHashes()));
}

import { mkdtempSync, writeFileSync, readFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { openWallet } from "./src/index.ts";
async function tryOpen(label: string, path: string) {
  try { const w = await openWallet({ path }); console.log(label, "OPENED", (await w.exportEvents()).length); await w.close(); }
  catch (e: any) { console.log(label, e?.constructor?.name, e?.code, e?.message); }
}
const which = process.argv[2];
const d = mkdtempSync(join(tmpdir(), "pr-"));
const realDir = mkdtempSync(join(tmpdir(), "pr-"));
{ const w = await openWallet({ path: realDir }); for (let i=0;i<50;i++) await w.addExchange({exchangeBaseUrl:`https://e${i}.example/`}); await w.close(); }
const real = readFileSync(join(realDir, "wallet.mdb"));
const f = join(d, "wallet.mdb");
if (which === "garbage") { writeFileSync(f, Buffer.alloc(65536, 0xab)); }
if (which === "small") { writeFileSync(f, Buffer.from("hello garbage")); }
if (which === "zero") { writeFileSync(f, Buffer.alloc(65536, 0)); }
if (which === "empty") { writeFileSync(f, Buffer.alloc(0)); }
if (which === "trunc100") { writeFileSync(f, real.subarray(0, 100)); }
if (which === "trunc4096") { writeFileSync(f, real.subarray(0, 4096)); }
if (which === "trunc8192") { writeFileSync(f, real.subarray(0, 8192)); }
if (which === "trunchalf") { writeFileSync(f, real.subarray(0, real.length >> 1)); }
if (which === "headgarbage") { const b = Buffer.alloc(real.length, 0xab); real.copy(b, 0, 0, 64); writeFileSync(f, b); }
if (which === "tailgarbage") { const b = Buffer.from(real); b.fill(0xab, 8192); writeFileSync(f, b); }
if (which === "real") { writeFileSync(f, real); }
console.log("size", real.length);
await tryOpen(which, d);

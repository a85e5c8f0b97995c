import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
const d = mkdtempSync(join(tmpdir(), "pr-"));
writeFileSync(join(d, "wallet.mdb"), Buffer.alloc(65536, 0xab));
console.log("opening");
let env;
try { env = open({ path: join(d, "wallet.mdb"), overlappingSync: false, maxDbs: 12 }); console.log("opened"); } catch (e) { console.log("err", e.message); process.exit(0) }
try { const db = env.openDB({ name: "events" }); console.log("db opened"); } catch (e) { console.log("err2", e.message); }

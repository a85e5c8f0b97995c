// Child of test/crash-adoption.test.ts: imports a backup file into the wallet in <dir> and SIGKILLs
// itself right after wallet.mdb's transaction committed, before projections.mdb's (the inner
// transactionSync of the nested pair returned).
//   node --import tsx test/support/kill-between-commits-child.ts <dir> <backup-file> <rootPriv>
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { openWallet } from "../../src/wallet.ts";

const [dir, file, priv] = process.argv.slice(2);
let depth = 0;
let armed = false;
const patched = new WeakSet<object>();
const emit = EventEmitter.prototype.emit;
// lmdb-js makes a class per environment; each store announces itself with "begin-transaction".
EventEmitter.prototype.emit = function (this: { transactionSync?: (...a: unknown[]) => unknown }, name: string | symbol, ...args: unknown[]) {
  if (name === "begin-transaction" && typeof this.transactionSync === "function" && !patched.has(this)) {
    patched.add(this);
    const orig = this.transactionSync;
    this.transactionSync = function (this: unknown, ...a: unknown[]) {
      depth++;
      try {
        return orig.apply(this, a);
      } finally {
        depth--;
        if (armed && depth === 1) process.kill(process.pid, "SIGKILL");
      }
    };
  }
  return emit.call(this, name, ...args);
} as typeof EventEmitter.prototype.emit;

const w = await openWallet({ path: dir, deviceId: "tablet" });
armed = true;
await w.importBackupEncrypted(new Uint8Array(readFileSync(file)), { walletRootPriv: priv });
process.stdout.write("not killed\n");

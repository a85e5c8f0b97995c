// One writer per wallet directory. Two writers would each keep their own
// heads and counters and silently break the hash chain, so a second opener
// (another process, or another wallet object in this one) is refused with
// store-locked.
//
// Across processes the lock is a Linux abstract-namespace socket named after
// the directory's device and inode: binding it is atomic, and the kernel
// releases it when the holding process exits, however it exits, so a crash
// never leaves a wallet locked. Where abstract sockets do not exist (not
// Linux), a lock file holding the owner's pid stands in; it is taken over
// when that pid no longer runs.
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { WalletError } from "../errors.ts";

export interface WriterLock {
  release(): Promise<void>;
}

/** Directories this process holds, by device:inode (several paths may name one directory). */
const held = new Set<string>();

function identity(dir: string): string {
  const st = statSync(realpathSync(dir));
  return `${st.dev}:${st.ino}`;
}

const locked = (dir: string, why: string) =>
  new WalletError("store-locked", `the wallet in ${dir} is already open for writing (${why}); close it first`, { path: dir });

/** Takes the writer lock of `dir` or refuses with store-locked. */
export async function acquireWriterLock(dir: string): Promise<WriterLock> {
  const id = identity(dir);
  if (held.has(id)) throw locked(dir, "by another wallet object in this process");
  held.add(id);
  try {
    const os = process.platform === "linux" ? await socketLock(dir, id) : pidFileLock(dir);
    return {
      async release() {
        held.delete(id);
        await os.release();
      },
    };
  } catch (e) {
    held.delete(id);
    throw e;
  }
}

async function socketLock(dir: string, id: string): Promise<WriterLock> {
  const name = `\0taler-wallet-engine/${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? locked(dir, "by another process") : new WalletError("store-open-failed", `cannot lock ${dir}: ${e.message}`)),
    );
    server.listen({ path: name, exclusive: true }, () => resolve());
  });
  // The lock must not keep the host's event loop alive.
  server.unref();
  return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function pidFileLock(dir: string): WriterLock {
  const file = join(dir, "writer.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release: async () => {
          try {
            unlinkSync(file);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new WalletError("store-open-failed", `cannot lock ${dir}: ${(e as Error).message}`);
      const owner = Number(readFileSync(file, "utf8"));
      if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) throw locked(dir, `by process ${owner}`);
      unlinkSync(file);
    }
  }
  throw locked(dir, "by a process that keeps taking it");
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

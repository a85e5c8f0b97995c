// One temporary directory per benchmark run, removed when the run ends
// (also on Ctrl-C), so repeated runs never fill the disk.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Workspace {
  /** A fresh, not yet existing path inside the run directory. */
  fresh(label: string): string;
  remove(): void;
}

export function openWorkspace(): Workspace {
  const root = mkdtempSync(join(tmpdir(), "wallet-bench-"));
  let n = 0;
  const remove = () => rmSync(root, { recursive: true, force: true });
  const onSignal = () => {
    remove();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    fresh: (label) => join(root, `${String(++n).padStart(3, "0")}-${label}`),
    remove() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      remove();
    },
  };
}

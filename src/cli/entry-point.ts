// Whether a module is the script node was started with (`node x.ts`, `tsx x.ts`,
// or a bin symlink to it), so a command module runs only when started, not when imported.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Call with the module's own `import.meta.url`. */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

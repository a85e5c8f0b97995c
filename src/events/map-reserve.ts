// How much address space an LMDB environment maps up front.
//
// lmdb-js otherwise starts with a 128 KiB map and doubles it as the file
// grows, keeping every old map for readers that may still point into it. Each
// page read through more than one map is resident once per map: importing 1M
// events into a 1M-event wallet (a 2.4 GB file) ended with 3.6 GB of the file
// resident, 2.0 GB with one map. Reserving costs address space only: the file
// grows as data is written (LMDB maps it read-only), and a file larger than the
// reserve still grows the map as before. The header records the reserve as the
// map size; lmdb-js ignores it (it always asks for its own), stock LMDB tools
// (mdb_stat, mdb_dump) map that much address space.
import { readFileSync } from "node:fs";

/** The reserve where it is safe to take. */
export const MAP_RESERVE_BYTES = 64 * 2 ** 30;

/**
 * The map size to open an environment with, or undefined for lmdb-js's growing
 * map. Only where the address space is known to be large and unlimited: x64
 * Linux (128 TiB per process; some arm64 kernels give 512 GiB) whose
 * /proc/self/limits sets no address-space limit. Under `ulimit -v` lmdb-js
 * crashes the process (SIGSEGV), rather than failing, when its map does not fit.
 */
export const mapReserve = (): number | undefined => reserveUnder(procLimits());

/** The reserve under the limits of /proc/self/limits (`limitsText`; undefined where there is none). */
export function reserveUnder(limitsText: string | undefined): number | undefined {
  if (limitsText === undefined) return undefined;
  const line = limitsText.split("\n").find((l) => l.startsWith("Max address space"));
  const soft = line?.slice("Max address space".length).trim().split(/\s+/)[0];
  return soft === "unlimited" ? MAP_RESERVE_BYTES : undefined;
}

function procLimits(): string | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return undefined;
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
}

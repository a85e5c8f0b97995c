// Command-line settings of a run (`npm run bench -- --quick --reps 3 …`).
import { parseArgs } from "node:util";

export interface BenchConfig {
  quick: boolean;
  /** History sizes (events) of the append, import, rebuild and reopen cases. */
  sizes: number[];
  /** Operations per device of the 3-device merge against Yjs and Automerge. */
  peerSizes: number[];
  reps: number;
  /** Events appended one durable transaction each, onto a wallet holding the history. */
  durable: number;
  /** Events per transaction of the chunked append. */
  chunk: number;
  /** Events per importEvents call (the whole log up to this size). */
  importChunk: number;
  seed: number;
}

const FULL = { sizes: [10_000, 100_000, 1_000_000], peerSizes: [10_000, 30_000, 100_000], reps: 3, durable: 1_000 };
const QUICK = { sizes: [1_000, 3_000], peerSizes: [500], reps: 1, durable: 100 };

const USAGE = `npm run bench -- [--quick] [--sizes 10000,100000,1000000] [--peer-sizes 10000,30000,100000]
  [--reps 3] [--durable 1000] [--chunk 1000] [--import-chunk 100000] [--seed 1]`;

function positive(name: string, s: string): number {
  const n = Number(s.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} wants positive integers, got ${JSON.stringify(s)}\n${USAGE}`);
  return n;
}

const list = (name: string, s: string | undefined) => (s === undefined ? undefined : s.split(",").filter(Boolean).map((x) => positive(name, x)));

export function benchConfig(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      sizes: { type: "string" },
      "peer-sizes": { type: "string" },
      reps: { type: "string" },
      durable: { type: "string" },
      chunk: { type: "string" },
      "import-chunk": { type: "string" },
      seed: { type: "string" },
    },
  });
  const base = values.quick ? QUICK : FULL;
  const num = (name: keyof typeof values, fallback: number) => {
    const v = values[name];
    return typeof v === "string" ? positive(name, v) : fallback;
  };
  const peerSizes = list("peer-sizes", values["peer-sizes"]) ?? base.peerSizes;
  if (peerSizes.some((n) => n < 220)) throw new Error(`--peer-sizes: the 3-device workload needs at least 220 operations per device\n${USAGE}`);
  return {
    quick: values.quick === true,
    sizes: list("sizes", values.sizes) ?? base.sizes,
    peerSizes,
    reps: num("reps", base.reps),
    durable: num("durable", base.durable),
    chunk: num("chunk", 1_000),
    importChunk: num("import-chunk", 100_000),
    seed: num("seed", 1),
  };
}

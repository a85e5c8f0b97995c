// Requests as JSON lines, the way wallet-core's hosts drive it over a pipe:
// `{"operation": "addExchange", "id": "1", "args": {…}}` per line. Used by
// `serve` (answers each with its envelope) and `log --follow` (prints the
// events they append).
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { ResponseEnvelope } from "../engine/engine.ts";
import type { Wallet } from "../wallet.ts";

export interface RequestLine {
  operation: string;
  id: string;
  args: unknown;
}

/** A line that is not a request is answered as the engine answers a malformed request. */
export function parseRequestLine(line: string, n: number): RequestLine | ResponseEnvelope {
  const refuse = (message: string, id = `line-${n}`): ResponseEnvelope => ({
    type: "error",
    operation: "",
    id,
    error: { code: "request-invalid", message: `line ${n}: ${message}` },
  });
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return refuse('not JSON; a request line is {"operation": NAME, "id": ID, "args": PAYLOAD}');
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return refuse("a request must be a JSON object");
  const o = v as Record<string, unknown>;
  const id = typeof o.id === "string" || typeof o.id === "number" ? String(o.id) : `line-${n}`;
  if (typeof o.operation !== "string") return refuse('"operation" must be the name of an operation', id);
  for (const k of Object.keys(o)) {
    if (k !== "operation" && k !== "id" && k !== "args") return refuse(`unknown field ${JSON.stringify(k)} (operation, id and args are known)`, id);
  }
  return { operation: o.operation, id, args: o.args };
}

export interface RequestLoop {
  /** Resolves when the input ended and every request read was answered. */
  readonly drained: Promise<void>;
  /** Stops reading; requests already read still finish (await `drained`). */
  stop(): void;
}

/**
 * Reads request lines from `input` and runs each through `wallet.handleRequest`
 * as soon as it is read (several may be in flight, as with wallet-core's hosts);
 * `answer` gets each envelope.
 */
export function runRequestLines(input: Readable, wallet: Wallet, answer: (e: ResponseEnvelope) => void | Promise<void>): RequestLoop {
  const rl = createInterface({ input, crlfDelay: Infinity });
  const inflight = new Set<Promise<void>>();
  let n = 0;
  let ended!: () => void;
  const closed = new Promise<void>((resolve) => (ended = resolve));
  rl.on("line", (line) => {
    n++;
    if (line.trim() === "") return;
    const parsed = parseRequestLine(line, n);
    const p = ("type" in parsed ? Promise.resolve(parsed) : wallet.handleRequest(parsed.operation, parsed.id, parsed.args))
      .then(answer)
      // An answer that cannot be written (the reader went away) must not end the others.
      .catch(() => {})
      .finally(() => inflight.delete(p));
    inflight.add(p);
  });
  rl.on("close", ended);
  const drained = closed.then(async () => {
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
  });
  return {
    drained,
    stop() {
      rl.close();
      input.pause();
    },
  };
}

// `wallet-engine api | serve`: every operation of the table, by name, as
// `taler-wallet-cli api` offers it; and the wallet as a process a host drives
// with JSON lines.
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { WalletError } from "../errors.ts";
import { operations } from "../ops/index.ts";
import { UsageError, type Command } from "./command.ts";
import { toJson } from "./format.ts";
import { runRequestLines } from "./request-lines.ts";

async function readAll(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** The payload argument: JSON, `@FILE` (JSON in a file) or `-` (JSON on stdin). */
async function payloadOf(arg: string | undefined, stdin: Readable, command: Command): Promise<unknown> {
  if (arg === undefined) return undefined;
  let text: string;
  let from: string;
  if (arg === "-") {
    text = await readAll(stdin);
    from = "stdin";
  } else if (arg.startsWith("@")) {
    from = arg.slice(1);
    try {
      text = readFileSync(from, "utf8");
    } catch (e) {
      throw new WalletError("file-unreadable", `cannot read ${from}: ${(e as Error).message}`, { path: from });
    }
  } else {
    text = arg;
    from = "the JSON argument";
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${from} is not JSON: ${(e as Error).message}`, command);
  }
}

const api: Command = {
  words: ["api"],
  summary: "run any operation of the engine by name with a JSON payload; prints its result as JSON",
  description: [
    "JSON is the payload itself, @FILE to read it from a file, or - to read it from stdin; omit it",
    "for operations that take none. A refused request prints its error code and exits with 1.",
    `Operations: ${Object.keys(operations).sort().join(", ")}.`,
  ].join("\n"),
  args: [{ name: "OPERATION" }, { name: "JSON", optional: true }],
  options: {},
  wallet: "create",
  async run(cx) {
    const payload = await payloadOf(cx.args[1], cx.io.stdin, api);
    const result = await cx.request(cx.args[0], payload);
    // Always JSON: the result is whatever the operation answers.
    cx.io.stdout.write(`${toJson(result)}\n`);
  },
};

const serve: Command = {
  words: ["serve"],
  summary: "answer requests read as JSON lines on stdin, as wallet-core's hosts drive it",
  description: [
    'Each stdin line is a request {"operation": NAME, "id": ID, "args": PAYLOAD}; each answer is one',
    'stdout line, {"type": "response", "operation", "id", "result"} or {"type": "error", …, "error":',
    '{"code", "message"}}, and each notification is a line {"type": "notification", "payload": {…}}.',
    "Requests run as they arrive (match answers by id). Ends when stdin ends and every request was",
    "answered, or on SIGINT or SIGTERM (requests in flight are finished first).",
  ].join("\n"),
  args: [],
  options: {},
  wallet: "create",
  async run(cx) {
    const line = (v: unknown) => void cx.io.stdout.write(`${toJson(v, "line")}\n`);
    const unsubscribe = cx.wallet.addNotificationListener((payload) => line({ type: "notification", payload }));
    const requests = runRequestLines(cx.io.stdin, cx.wallet, line);
    await cx.io.untilSignal(requests.drained);
    requests.stop();
    await requests.drained;
    unsubscribe();
  },
};

export const apiCommands: Command[] = [api, serve];

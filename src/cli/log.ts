// `wallet-engine log | clock`: the event log and its vector clock.
import type { ResponseEnvelope } from "../engine/engine.ts";
import { seqOf, type VectorClock } from "../events/clock.ts";
import { MAX_TIMER_MS } from "../transport/deadline.ts";
import type { WalletEvent } from "../events/envelope.ts";
import { UsageError, type Command, type CommandContext } from "./command.ts";
import { eventSummary } from "./event-summary.ts";
import { paint, table, toJson, type Cell, type Colour, type Style } from "./format.ts";
import { runRequestLines } from "./request-lines.ts";

/** `{"dev":3}` (what `clock --json` prints) or `dev:3,other:5`. */
export function parseClock(text: string, command: Command): VectorClock {
  const t = text.trim();
  if (t.startsWith("{")) {
    try {
      return JSON.parse(t) as VectorClock;
    } catch {
      throw new UsageError(`--since: ${JSON.stringify(text)} is not JSON`, command);
    }
  }
  const clock: VectorClock = {};
  for (const part of t.split(",")) {
    const m = /^([A-Za-z0-9_-]{1,64}):(\d{1,16})$/.exec(part.trim());
    if (!m) throw new UsageError(`--since takes a clock like dev1:12,dev2:3 or {"dev1":12}; ${JSON.stringify(part)} is neither`, command);
    clock[m[1]] = Number(m[2]);
  }
  return clock;
}

function typeColour(type: string): Colour | undefined {
  if (type.endsWith("-failed")) return "red";
  if (type.startsWith("exchange-")) return "cyan";
  if (type === "coins-withdrawn") return "green";
  if (type === "coin-spent" || type === "coins-refreshed") return "yellow";
  return undefined;
}

const HEADER = ["EVENT", "LAMPORT", "TYPE", "SUMMARY"];

const rowOf = (e: WalletEvent): [string, string, Cell, string] => [
  `${e.device}:${e.seq}`,
  String(e.lamport),
  { text: e.type, colour: typeColour(e.type) },
  eventSummary(e),
];

/** A streamed row: padded to widths fixed when following started, since earlier rows cannot be realigned. */
function streamRow(style: Style, widths: number[], e: WalletEvent): string {
  const [dot, lamport, type, summary] = rowOf(e);
  return [
    dot.padEnd(widths[0]),
    lamport.padStart(widths[1]),
    paint(style, type.colour, type.text.padEnd(widths[2])),
    summary,
  ].join("  ");
}

const FOLLOW_HELP = [
  "With --follow the command keeps the wallet open after printing the log and prints each new event",
  "as it is committed, until SIGINT or SIGTERM (exit status 0). A wallet directory has one writer at",
  "a time, so the new events are the ones this process writes or imports:",
  '  - requests read from stdin as JSON lines, {"operation": NAME, "id": ID, "args": PAYLOAD}',
  "    (the format of `serve`); a refused one is reported on stderr as an error line, and responses",
  "    are not printed (use `serve` for them). Ending stdin does not end following.",
  "  - with --sync-every SECONDS, a backup cycle (runBackupCycle) that often, importing what the",
  "    wallet's other devices uploaded.",
  "With --json every event is one JSON line (the initial ones too).",
].join("\n");

const log: Command = {
  words: ["log"],
  summary: "the wallet's shared events in causal order: dot, lamport, type and what each recorded",
  description: ["Without --json the events are a table; --json prints them as exported (importEvents takes that array).", "", FOLLOW_HELP].join("\n"),
  args: [],
  options: {
    since: { type: "string", value: "CLOCK", help: "only events not covered by CLOCK (dev1:12,dev2:3 or the JSON of `clock --json`)" },
    follow: { type: "boolean", help: "keep printing new events (see above)" },
    "sync-every": { type: "string", value: "SECONDS", help: "with --follow: run a backup cycle every SECONDS" },
  },
  wallet: "existing",
  async run(cx) {
    const since = cx.opts.since === undefined ? undefined : parseClock(cx.opts.since as string, log);
    let syncEvery: number | undefined;
    if (cx.opts["sync-every"] !== undefined) {
      if (cx.opts.follow !== true) throw new UsageError("--sync-every needs --follow", log);
      syncEvery = Number(cx.opts["sync-every"]);
      // Beyond MAX_TIMER_MS Node would fire every millisecond; a tenth of a second is already ten cycles a second.
      if (!/^\d+(\.\d+)?$/.test(cx.opts["sync-every"] as string) || !(syncEvery >= 0.1) || syncEvery * 1000 > MAX_TIMER_MS) {
        throw new UsageError(`--sync-every takes a number of seconds from 0.1 to ${Math.floor(MAX_TIMER_MS / 1000)}, got ${JSON.stringify(cx.opts["sync-every"])}`, log);
      }
    }
    const events = (await cx.request("exportEvents", since === undefined ? undefined : { since })) as WalletEvent[];
    if (cx.opts.follow !== true) {
      cx.print(events, () => (events.length === 0 ? "no events" : table(cx.style, HEADER, events.map(rowOf), { right: [1] })));
      return 0;
    }
    return follow(cx, since ?? {}, events, syncEvery);
  },
};

async function follow(cx: CommandContext, since: VectorClock, initial: WalletEvent[], syncEvery: number | undefined): Promise<number> {
  const printed: VectorClock = { ...since };
  const rows = initial.map(rowOf);
  const widths = [Math.max(16, ...rows.map((r) => r[0].length)), Math.max(7, ...rows.map((r) => r[1].length)), 24];
  const show = (events: WalletEvent[]) => {
    for (const e of events) {
      cx.io.stdout.write(`${cx.global.json ? toJson(e, "line") : streamRow(cx.style, widths, e)}\n`);
      if (seqOf(printed, e.device) < e.seq) printed[e.device] = e.seq;
    }
  };
  if (!cx.global.json) cx.io.stdout.write(`${paint(cx.style, "bold", [HEADER[0].padEnd(widths[0]), HEADER[1].padStart(widths[1]), HEADER[2].padEnd(widths[2]), HEADER[3]].join("  "))}\n`);
  show(initial);

  // One look at a time, in order: each asks for what is not printed yet, so nothing is printed twice.
  let looking = Promise.resolve();
  const look = () =>
    (looking = looking.then(async () => {
      const env = await cx.wallet.handleRequest("exportEvents", "follow", { since: printed });
      if (env.type === "response") show(env.result as WalletEvent[]);
    }).catch(() => {}));
  const refused = (env: ResponseEnvelope) => {
    if (env.type === "error") cx.io.stderr.write(`error: ${env.error.code}: ${env.error.message}${env.operation ? ` (${env.operation} ${env.id})` : ""}\n`);
  };
  // Notifications come after commits that imports and requests make; the requests below also look when they end.
  const unsubscribe = cx.wallet.addNotificationListener(() => void look());
  const requests = runRequestLines(cx.io.stdin, cx.wallet, async (env) => {
    refused(env);
    await look();
  });
  let cycle: Promise<void> | undefined;
  const timer =
    syncEvery === undefined
      ? undefined
      : setInterval(() => {
          // A cycle still running when the next is due is not doubled.
          cycle ??= cx.wallet
            .handleRequest("runBackupCycle", "follow-sync", undefined)
            .then(refused)
            .then(look)
            .finally(() => (cycle = undefined));
        }, syncEvery * 1000);

  await cx.io.untilSignal();
  if (timer) clearInterval(timer);
  requests.stop();
  await requests.drained;
  await cycle;
  await look();
  unsubscribe();
  return 0;
}

const clock: Command = {
  words: ["clock"],
  summary: "the wallet's vector clock: the last event of each device it holds",
  description: "`log --since` takes what this prints (either form).",
  args: [],
  options: {},
  wallet: "existing",
  async run(cx) {
    const c = (await cx.request("getVectorClock")) as VectorClock;
    const devices = Object.keys(c).sort();
    cx.print(c, () =>
      [
        `this device: ${cx.wallet.deviceId}`,
        devices.length === 0
          ? "no events"
          : table(
              cx.style,
              ["DEVICE", "SEQ"],
              devices.map((d) => [d === cx.wallet.deviceId ? { text: d, colour: "bold" } : d, String(c[d])]),
              { right: [1] },
            ),
        devices.length === 0 ? "" : `since form: ${devices.map((d) => `${d}:${c[d]}`).join(",")}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
    );
  },
};

export const logCommands: Command[] = [log, clock];

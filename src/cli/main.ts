// `wallet-engine`: drive and inspect a wallet from the command line, the way
// GNU Taler's taler-wallet-cli does. Every command is a thin mapping onto the
// operations table through handleRequest; this file finds the command, opens
// the wallet and turns what went wrong into one line and an exit status.
//   npx wallet-engine --help
import { WalletError } from "../errors.ts";
import type { Wallet } from "../wallet.ts";
import { apiCommands } from "./api.ts";
import { backupCommands } from "./backup.ts";
import { coinCommands } from "./coins.ts";
import {
  commandHelp,
  listHelp,
  parseCommand,
  positionalsOf,
  PROGRAM,
  UsageError,
  usageLine,
  type CliIo,
  type Command,
  type CommandContext,
} from "./command.ts";
import { exchangeCommands } from "./exchanges.ts";
import { styleFor, toJson } from "./format.ts";
import { logCommands } from "./log.ts";
import { maintenanceCommands } from "./maintenance.ts";
import { progressBar } from "./progress.ts";
import { syncCommands } from "./sync.ts";
import { isUntouched, newWalletAt, openCliWallet, removeNewWallet } from "./wallet-dir.ts";
import { isEntryPoint } from "./entry-point.ts";

export const commands: Command[] = [
  ...exchangeCommands,
  ...coinCommands,
  ...logCommands,
  ...backupCommands,
  ...syncCommands,
  ...maintenanceCommands,
  ...apiCommands,
];

const SYNC_SERVER = { words: "sync-server [options]", summary: "run a sync provider (backup storage) until SIGINT or SIGTERM" };

const TOP_USAGE = `usage: ${PROGRAM} [--wallet DIR] [--json] COMMAND [ARGS...]`;

const TOP_HELP = listHelp(
  `${TOP_USAGE}\n\nDrives and inspects a wallet of taler-wallet-engine: every operation of the engine is reachable (see \`api\`).\nExit status: 0 done, 1 refused or failed (the error code is printed), 2 wrong arguments.`,
  commands,
  [SYNC_SERVER],
);

const groups = new Map<string, Command[]>();
for (const c of commands) {
  if (c.words.length > 1) groups.set(c.words[0], [...(groups.get(c.words[0]) ?? []), c]);
}

type Found = { kind: "command"; command: Command } | { kind: "group"; name: string; next?: string } | { kind: "unknown"; word: string } | { kind: "none" };

function find(positionals: string[]): Found {
  const [first, second] = positionals;
  if (first === undefined) return { kind: "none" };
  const group = groups.get(first);
  if (group) {
    const command = group.find((c) => c.words[1] === second);
    return command ? { kind: "command", command } : { kind: "group", name: first, next: second };
  }
  const command = commands.find((c) => c.words.length === 1 && c.words[0] === first);
  return command ? { kind: "command", command } : { kind: "unknown", word: first };
}

function usageFailure(io: CliIo, message: string, usage: string, helpHint: string): number {
  io.stderr.write(`${PROGRAM}: ${message}\n${usage}\n(see \`${helpHint} --help\`)\n`);
  return 2;
}

/** A refusal from the engine, or a failure here, as one line (and the stack with --debug). */
function reportFailure(io: CliIo, e: unknown, opts: { json: boolean; debug: boolean }): number {
  const w = e instanceof WalletError ? e : undefined;
  const code = w?.code ?? "internal-error";
  const message = w ? w.message : `unexpected ${(e as Error)?.name ?? "error"}: ${(e as Error)?.message ?? String(e)}`;
  io.stderr.write(`error: ${code}: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  if (opts.debug) {
    if (w?.details !== undefined) io.stderr.write(`details: ${toJson(w.details, "line")}\n`);
    if (e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
  }
  if (opts.json) {
    const error: Record<string, unknown> = { code, message };
    if (w?.details !== undefined) error.details = w.details;
    io.stdout.write(`${toJson({ error })}\n`);
  }
  return 1;
}

/** Runs one command line; resolves with the exit status. Never rejects. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes("--debug");
  let positionals: string[];
  let indexes: number[];
  try {
    ({ positionals, indexes } = positionalsOf(argv, commands));
  } catch (e) {
    return usageFailure(io, (e as Error).message, TOP_USAGE, PROGRAM);
  }
  // The sync server has its own options; everything after its name is its.
  // Loaded only here: its stores (PostgreSQL's client among them) cost every other command startup time.
  if (positionals[0] === "sync-server") return (await import("./sync-server.ts")).syncServerCommand(argv.slice(indexes[0] + 1));

  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  const found = find(positionals);
  switch (found.kind) {
    case "none":
      if (wantsHelp) {
        io.stdout.write(`${TOP_HELP}\n`);
        return 0;
      }
      return usageFailure(io, "no command given", TOP_USAGE, PROGRAM);
    case "unknown":
      return usageFailure(io, `unknown command ${JSON.stringify(found.word)}`, TOP_USAGE, PROGRAM);
    case "group": {
      const group = groups.get(found.name)!;
      if (wantsHelp && found.next === undefined) {
        io.stdout.write(`${listHelp(`usage: ${PROGRAM} ${found.name} SUBCOMMAND [ARGS...]`, group)}\n`);
        return 0;
      }
      const subs = group.map((c) => c.words[1]).join(", ");
      const what = found.next === undefined ? `${found.name} needs a subcommand` : `unknown subcommand ${JSON.stringify(`${found.name} ${found.next}`)}`;
      return usageFailure(io, `${what}: ${subs}`, `usage: ${PROGRAM} ${found.name} SUBCOMMAND [ARGS...]`, `${PROGRAM} ${found.name}`);
    }
    case "command":
      return runCommand(found.command, argv, io, debug);
    default: {
      const never: never = found;
      throw new Error(`unhandled ${JSON.stringify(never)}`);
    }
  }
}

async function runCommand(command: Command, argv: string[], io: CliIo, debug: boolean): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(command, argv);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, e.message, usageLine(command), [PROGRAM, ...command.words].join(" "));
    return reportFailure(io, e, { json: false, debug });
  }
  if (parsed.help) {
    io.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  const { global } = parsed;
  // A refused command must not leave a new wallet behind (a typo in --wallet, a missing file to import).
  const fresh = newWalletAt(global.wallet, command.wallet);
  let wallet: Wallet | undefined;
  let status = 1;
  try {
    if (command.wallet !== "none") wallet = await openCliWallet(global.wallet, command.wallet);
    let requests = 0;
    const cx: CommandContext = {
      args: parsed.args,
      opts: parsed.opts,
      global,
      io,
      style: styleFor(io.stdout, io.env),
      get wallet(): Wallet {
        if (!wallet) throw new Error(`${command.words.join(" ")} does not open the wallet`);
        return wallet;
      },
      async request(operation, payload) {
        const env = await cx.wallet.handleRequest(operation, `cli-${++requests}`, payload);
        if (env.type === "error") throw new WalletError(env.error.code, env.error.message, env.error.details);
        return env.result;
      },
      print(data, human) {
        io.stdout.write(`${global.json ? toJson(data) : human()}\n`);
      },
      progress: (title, total) => progressBar(io.stderr, io.env, title, total),
    };
    status = (await command.run(cx)) ?? 0;
    return status;
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, e.message, usageLine(command), [PROGRAM, ...command.words].join(" "));
    return reportFailure(io, e, global);
  } finally {
    const undo = status !== 0 && fresh !== undefined && wallet !== undefined && (await isUntouched(wallet).catch(() => false));
    await wallet?.close().catch(() => {});
    if (undo) removeNewWallet(global.wallet, fresh!);
  }
}

/** The process's own streams and signals. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    untilSignal(unless) {
      return new Promise((resolve) => {
        const done = (sig: string | undefined) => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve(sig);
        };
        const onSignal = (sig: NodeJS.Signals) => done(sig);
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        unless?.then(
          () => done(undefined),
          () => done(undefined),
        );
      });
    },
  };
}

/** The `wallet-engine` executable: runs the command line and exits with its status. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<never> {
  // A reader that went away (`wallet-engine log | head`) is not an error of ours.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  const status = await runCli(argv, processIo());
  process.exit(status);
}

if (isEntryPoint(import.meta.url)) void main();

// How a command is declared and how its arguments are read: each command is
// data (words, positionals, options, whether it opens the wallet) plus a run
// function, so help, usage errors and parsing are the same for all of them.
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import type { Wallet } from "../wallet.ts";
import type { Style } from "./format.ts";
import type { Progress } from "./progress.ts";

export const PROGRAM = "wallet-engine";
export const DEFAULT_WALLET_DIR = "./wallet-data";

/** Where the tool reads and writes: the process's streams, or a test's. */
export interface CliIo {
  stdout: { isTTY?: boolean; columns?: number; write(s: string | Uint8Array): unknown };
  stderr: { isTTY?: boolean; columns?: number; write(s: string | Uint8Array): unknown };
  stdin: Readable;
  env: Record<string, string | undefined>;
  /**
   * Resolves with the signal's name on the first SIGINT or SIGTERM after the
   * call, or with undefined once `unless` settles first; stops listening either way.
   */
  untilSignal(unless?: Promise<unknown>): Promise<string | undefined>;
}

export interface OptionSpec {
  type: "string" | "boolean";
  /** Placeholder of the value in help ("URL", "N"). */
  value?: string;
  help: string;
  multiple?: boolean;
  short?: string;
}

export interface ArgSpec {
  name: string;
  optional?: boolean;
  /** Takes every remaining positional (one or more, or none when optional). */
  variadic?: boolean;
}

/**
 * Whether a command opens the wallet directory: `create` makes one when
 * missing (commands that record something), `existing` refuses a directory
 * without a wallet (commands that only look), `none` never opens it.
 */
export type WalletMode = "none" | "create" | "existing";

export interface GlobalOptions {
  wallet: string;
  json: boolean;
  debug: boolean;
}

export interface CommandContext {
  /** Positionals after the command's words, checked against its ArgSpecs. */
  args: string[];
  opts: Record<string, string | boolean | string[] | undefined>;
  global: GlobalOptions;
  io: CliIo;
  /** Style of stdout. */
  style: Style;
  /** The open wallet (commands whose mode is not `none`). */
  wallet: Wallet;
  /** One request through handleRequest; an error envelope is thrown as a WalletError. */
  request(operation: string, payload?: unknown): Promise<unknown>;
  /** `data` as JSON with --json, else the human text. */
  print(data: unknown, human: () => string): void;
  /** A progress bar on stderr, drawn only when stderr is a terminal. */
  progress(title: string, total?: number): Progress;
}

export interface Command {
  words: string[];
  summary: string;
  /** Paragraphs after the usage line in --help. */
  description?: string;
  args: ArgSpec[];
  options: Record<string, OptionSpec>;
  wallet: WalletMode;
  /** Resolves with the exit status (0 when nothing is returned). */
  run(cx: CommandContext): Promise<number | void>;
}

/** A mistake in how the tool was called: exit status 2 with the command's usage line. */
export class UsageError extends Error {
  readonly command: Command | undefined;
  constructor(message: string, command?: Command) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  wallet: { type: "string", value: "DIR", help: `the wallet directory (default ${DEFAULT_WALLET_DIR})` },
  json: { type: "boolean", help: "print JSON for scripts instead of text" },
  debug: { type: "boolean", help: "print the stack trace of an error" },
  help: { type: "boolean", short: "h", help: "print this help" },
};

type ParseOptions = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

const parseOptionsOf = (specs: Record<string, OptionSpec>): ParseOptions =>
  Object.fromEntries(
    Object.entries(specs).map(([k, s]) => [k, { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) }]),
  );

/** parseArgs explains some mistakes over several lines; a usage error is one. */
const oneLine = (e: unknown) =>
  (e instanceof Error ? e.message : String(e))
    .replace(/\s*\n\s*/g, " ")
    // "Unknown option '--x'. To specify a positional argument starting with a '-', …": the first sentence says it.
    .replace(/^(Unknown option '[^']*')\. To specify.*$/, "$1");

/**
 * The positionals of `argv` in order, reading every option any command
 * declares with its type, so that an option's value is never taken for a
 * command word (`--wallet exchanges exchanges list`).
 */
export function positionalsOf(argv: string[], commands: Command[]): { positionals: string[]; indexes: number[] } {
  const options: ParseOptions = parseOptionsOf(GLOBAL_OPTIONS);
  for (const c of commands) Object.assign(options, parseOptionsOf(c.options));
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const positionals: string[] = [];
  const indexes: number[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") {
      positionals.push(t.value);
      indexes.push(t.index);
    }
  }
  return { positionals, indexes };
}

export interface Parsed {
  args: string[];
  opts: Record<string, string | boolean | string[] | undefined>;
  global: GlobalOptions;
  help: boolean;
}

/** Reads `argv` strictly against `command`'s declaration; throws UsageError. */
export function parseCommand(command: Command, argv: string[]): Parsed {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...parseOptionsOf(GLOBAL_OPTIONS), ...parseOptionsOf(command.options) },
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    throw new UsageError(oneLine(e), command);
  }
  const help = values.help === true;
  const args = positionals.slice(command.words.length);
  if (!help) checkArity(command, args);
  const opts: Parsed["opts"] = {};
  for (const k of Object.keys(command.options)) opts[k] = values[k] as string | boolean | string[] | undefined;
  if (values.wallet === "") throw new UsageError("--wallet needs a directory", command);
  return {
    args,
    opts,
    help,
    global: { wallet: (values.wallet as string | undefined) ?? DEFAULT_WALLET_DIR, json: values.json === true, debug: values.debug === true },
  };
}

function checkArity(command: Command, args: string[]): void {
  const min = command.args.filter((a) => !a.optional).length;
  const variadic = command.args.some((a) => a.variadic);
  const max = variadic ? Infinity : command.args.length;
  if (args.length < min) {
    const missing = command.args.slice(args.length).filter((a) => !a.optional).map((a) => a.name);
    throw new UsageError(`missing ${missing.join(" and ")}`, command);
  }
  if (args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args[max])}`, command);
}

function synopsisOf(a: ArgSpec): string {
  const name = a.variadic ? `${a.name}...` : a.name;
  return a.optional ? `[${name}]` : name;
}

function optionSynopsis(name: string, s: OptionSpec): string {
  const long = s.type === "string" ? `--${name} ${s.value ?? "VALUE"}` : `--${name}`;
  return s.short ? `-${s.short}, ${long}` : long;
}

/** `usage: wallet-engine exchanges add [options] URL` */
export function usageLine(command: Command): string {
  const parts = [PROGRAM, ...command.words];
  if (Object.keys(command.options).length > 0) parts.push("[options]");
  parts.push(...command.args.map(synopsisOf));
  return `usage: ${parts.join(" ")}`;
}

function optionLines(specs: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(specs).map(([k, s]) => [optionSynopsis(k, s) + (s.multiple ? " (repeatable)" : ""), s.help] as const);
  const w = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(w)}  ${h}`);
}

const WALLET_MODE_HELP: Record<WalletMode, string | undefined> = {
  none: undefined,
  create: "Creates the wallet directory when it does not exist yet.",
  existing: "Only reads: a directory without a wallet is refused (wallet-not-found), never created.",
};

export function commandHelp(command: Command): string {
  const lines = [usageLine(command), "", command.summary];
  if (command.description) lines.push("", command.description);
  const mode = WALLET_MODE_HELP[command.wallet];
  if (mode) lines.push("", mode);
  if (Object.keys(command.options).length > 0) lines.push("", "Options:", ...optionLines(command.options));
  lines.push("", "Global options:", ...optionLines(GLOBAL_OPTIONS));
  return lines.join("\n");
}

/** Help of a group of commands (`wallet-engine exchanges --help`) or of the whole tool. */
export function listHelp(heading: string, commands: Command[], extra: { words: string; summary: string }[] = []): string {
  const rows = [
    ...commands.map((c) => [[...c.words, ...c.args.map(synopsisOf)].join(" "), c.summary] as const),
    ...extra.map((e) => [e.words, e.summary] as const),
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  return [heading, "", "Commands:", ...rows.map(([l, s]) => `  ${l.padEnd(w)}  ${s}`), "", "Global options:", ...optionLines(GLOBAL_OPTIONS), "", `Run \`${PROGRAM} COMMAND --help\` for a command's options.`].join("\n");
}

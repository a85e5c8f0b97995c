// `sync-server`: runs a sync provider until SIGTERM or SIGINT.
//   npm run sync-server -- --port 9967 --data ./sync-data
import { parseArgs } from "node:util";
import { normalizeAmount } from "../codec/amounts.ts";
import { isWalletError } from "../errors.ts";
import { MAX_STORAGE_LIMIT_MB, startSyncServer, type SyncServerOptions } from "../transport/sync-server.ts";
import { isEntryPoint } from "./entry-point.ts";

const USAGE = `usage: sync-server [options]

Runs a GNU Taler compatible sync provider (backup storage) until SIGTERM or SIGINT.

  --port N               TCP port (default 9967; 0 picks a free one)
  --host ADDR            address to listen on (default 127.0.0.1)
  --data DIR             directory of the LMDB store (required unless --postgres)
  --postgres URL         store in PostgreSQL instead, e.g. postgres://sync@db.example/sync
  --storage-limit-mb N   largest backup accepted, in megabytes (default 16)
  --annual-fee AMOUNT    annual fee, e.g. KUDOS:0.5 (default: free); for testing
                         the 402 path only, see below
  --help                 this text

Prints the base URL on its first line, then one line per request.

With --annual-fee every upload is answered 402 (with a taler://pay URI) until
its account is marked paid, and this server takes no payments: an account can
only be marked paid through the library, SyncServer.markPaid(accountPub) on a
server started with startSyncServer. Use it to test how wallets handle 402,
not to charge anyone.`;

type Parsed = { kind: "run"; options: SyncServerOptions } | { kind: "help" } | { kind: "usage-error"; message: string };

function parse(argv: string[]): Parsed {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        data: { type: "string" },
        postgres: { type: "string" },
        "storage-limit-mb": { type: "string" },
        "annual-fee": { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    // parseArgs explains some mistakes over several lines; a usage error is one.
    const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ");
    return { kind: "usage-error", message };
  }
  if (values.help === true) return { kind: "help" };
  const port = values.port === undefined ? 9967 : Number(values.port);
  if (values.port !== undefined && (!/^\d{1,5}$/.test(values.port) || port > 65535)) {
    return { kind: "usage-error", message: `--port must be a number from 0 to 65535, got ${JSON.stringify(values.port)}` };
  }
  if (values.data === undefined && values.postgres === undefined) {
    return { kind: "usage-error", message: "give --data DIR (LMDB) or --postgres URL" };
  }
  if (values.data !== undefined && values.postgres !== undefined) {
    return { kind: "usage-error", message: "give either --data or --postgres, not both" };
  }
  for (const flag of ["data", "postgres", "host"] as const) {
    if (values[flag] === "") return { kind: "usage-error", message: `--${flag} needs a value` };
  }
  const options: SyncServerOptions = { port };
  if (values.data !== undefined) options.path = values.data;
  if (values.host !== undefined) options.host = values.host;
  if (values.postgres !== undefined) options.postgres = values.postgres;
  if (values["storage-limit-mb"] !== undefined) {
    const mb = Number(values["storage-limit-mb"]);
    if (!/^\d+(\.\d+)?$/.test(values["storage-limit-mb"]) || !(mb > 0) || mb > MAX_STORAGE_LIMIT_MB) {
      return { kind: "usage-error", message: `--storage-limit-mb must be a positive number up to ${MAX_STORAGE_LIMIT_MB}, got ${JSON.stringify(values["storage-limit-mb"])}` };
    }
    options.storageLimitInMegabytes = mb;
  }
  if (values["annual-fee"] !== undefined) {
    try {
      options.annualFee = normalizeAmount(values["annual-fee"]);
    } catch {
      return { kind: "usage-error", message: `--annual-fee must be an amount like KUDOS:0.5, got ${JSON.stringify(values["annual-fee"])}` };
    }
  }
  return { kind: "run", options };
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      resolve(sig);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

/** Runs the sync server command; resolves with the exit status (0 after a clean stop, 1 when it cannot start, 2 on usage errors). */
export async function syncServerCommand(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  switch (parsed.kind) {
    case "help":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case "usage-error":
      process.stderr.write(`sync-server: ${parsed.message} (see --help)\n`);
      return 2;
    case "run":
      break;
    default: {
      const never: never = parsed;
      throw new Error(`unhandled parse result ${JSON.stringify(never)}`);
    }
  }
  // A server keeps serving when the reader of its log goes away (`sync-server | head -1`): the
  // request lines are then dropped, where an EPIPE would crash it (or end it as a CLI would).
  let logOpen = true;
  process.stdout.removeAllListeners("error");
  process.stdout.on("error", () => {
    logOpen = false;
  });
  const print = (line: string) => {
    if (logOpen && process.stdout.writable) process.stdout.write(`${line}\n`);
  };
  let server;
  try {
    server = await startSyncServer({ ...parsed.options, log: print });
  } catch (e) {
    const message = isWalletError(e) ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`sync-server: cannot start: ${message}\n`);
    return 1;
  }
  // Registered once listening: a signal during startup keeps its default effect.
  const signal = waitForSignal();
  const where = parsed.options.postgres !== undefined ? "postgres" : `lmdb ${parsed.options.path}`;
  print(`sync server listening on ${server.baseUrl} (${where})`);
  const sig = await signal;
  await server.close();
  print(`sync server stopped (${sig})`);
  return 0;
}

if (isEntryPoint(import.meta.url)) {
  syncServerCommand(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (e: unknown) => {
      process.stderr.write(`sync-server: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

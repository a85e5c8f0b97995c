// The sync server's PostgreSQL backend, for a provider that serves many users
// from more than one machine: every server process shares one database, and
// each compare-and-swap is a single conditional SQL statement, atomic under
// PostgreSQL's row locking whatever process runs it.
import pg from "pg";
import { WalletError } from "../errors.ts";
import { casRefusal, type AccountState, type CasResult, type NewBackup, type StoredBackup, type SyncStore } from "./sync-store.ts";

export interface PostgresSyncStoreOptions {
  /** Called for failures no request is waiting for (an idle connection dropped). */
  log?: (line: string) => void;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sync_accounts (
  account_pub TEXT PRIMARY KEY,
  paid BOOLEAN NOT NULL DEFAULT FALSE,
  backup_hash TEXT,
  prev_hash TEXT,
  signature TEXT,
  blob BYTEA
)`;

// Any fixed number: concurrent server starts serialize their schema creation on it
// (CREATE TABLE IF NOT EXISTS alone can still collide on the catalogue).
const SCHEMA_LOCK_KEY = 1450_0001;

// A compare-and-swap that loses to a writer restoring the expected hash (A → B → A)
// between its statement and its read-back tries again; more than this is contention.
const CAS_ATTEMPTS = 5;

interface Row {
  paid: boolean;
  backup_hash: string | null;
  prev_hash: string | null;
  signature: string | null;
  blob: Buffer | null;
}

/** Where the database is, for messages: never the password. */
function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    const db = u.pathname.replace(/^\//, "") || "(default database)";
    return `PostgreSQL at ${u.hostname || "(local socket)"}${u.port ? `:${u.port}` : ""}/${db}`;
  } catch {
    return "the PostgreSQL database";
  }
}

const UNAVAILABLE_NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EHOSTUNREACH", "EPIPE", "EAI_AGAIN"]);

/** Turns whatever pg threw into a WalletError; the raw pg error never leaves this file. */
function mapPgError(target: string, what: string, e: unknown): WalletError {
  if (e instanceof WalletError) return e;
  const code = typeof (e as { code?: unknown })?.code === "string" ? (e as { code: string }).code : undefined;
  const details: Record<string, unknown> = code === undefined ? {} : { sqlstate: code };
  const message = e instanceof Error ? e.message : String(e);
  if (code !== undefined && UNAVAILABLE_NODE_CODES.has(code)) {
    return new WalletError("sync-store-unavailable", `cannot reach ${target} to ${what} (${code}); is the server running?`, details);
  }
  if (/timeout|terminat|Connection ended|not queryable|ended unexpectedly/i.test(message) && code === undefined) {
    return new WalletError("sync-store-unavailable", `lost the connection to ${target} while trying to ${what}`, details);
  }
  switch (code) {
    case "28P01":
    case "28000":
      return new WalletError("sync-store-auth-failed", `${target} refused our credentials; check the connection URL`, details);
    case "3D000":
      return new WalletError("sync-store-database-missing", `${target} has no such database; create it first`, details);
    case "40001":
    case "40P01":
      return new WalletError("sync-store-contention", `${target}: too much concurrent writing to ${what}; try again`, details);
    case "57P01":
    case "57P02":
    case "57P03":
    case "08000":
    case "08003":
    case "08006":
      return new WalletError("sync-store-unavailable", `${target} is shutting down or unavailable; could not ${what}`, details);
    case "53100":
      return new WalletError("sync-store-full", `${target} is out of disk space; could not ${what}`, details);
    default:
      return new WalletError("sync-store-failed", `${target} failed to ${what}${code === undefined ? "" : ` (SQLSTATE ${code})`}`, details);
  }
}

function backupOf(row: Row): StoredBackup | undefined {
  if (row.backup_hash === null || row.signature === null || row.blob === null) return undefined;
  const out: StoredBackup = {
    blob: new Uint8Array(row.blob.buffer, row.blob.byteOffset, row.blob.byteLength),
    hash: row.backup_hash,
    signature: row.signature,
  };
  if (row.prev_hash !== null) out.prevHash = row.prev_hash;
  return out;
}

/** Connects to `url` (postgres://user@host:port/db), creates the schema when absent, and returns the store. */
export async function openPostgresSyncStore(url: string, opts: PostgresSyncStoreOptions = {}): Promise<SyncStore> {
  const target = describeTarget(url);
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // A wedged statement fails its request (500) instead of holding a connection forever.
      statement_timeout: 30_000,
    });
  } catch (e) {
    throw new WalletError("sync-store-open-failed", `invalid PostgreSQL connection URL for ${target}: ${(e as Error).message}`);
  }
  // Without a listener an idle connection's error (server restart) would crash the process.
  pool.on("error", (e: Error) => opts.log?.(`sync store: idle connection to ${target} failed: ${mapPgError(target, "stay connected", e).message}`));

  async function query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    if (closed) throw new WalletError("sync-store-closed", "the sync store is closed");
    try {
      return await pool.query<R>(text, values);
    } catch (e) {
      throw mapPgError(target, what, e);
    }
  }

  let closed = false;
  try {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK_KEY]);
      await client.query(SCHEMA);
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  } catch (e) {
    await pool.end().catch(() => {});
    throw mapPgError(target, "create the sync schema", e);
  }

  async function readRow(account: string): Promise<Row | undefined> {
    const r = await query<Row>(
      "read an account",
      "SELECT paid, backup_hash, prev_hash, signature, blob FROM sync_accounts WHERE account_pub = $1",
      [account],
    );
    return r.rows[0];
  }

  async function tryWrite(account: string, expectedPrev: string | undefined, next: NewBackup): Promise<boolean> {
    const blob = Buffer.from(next.blob.buffer, next.blob.byteOffset, next.blob.byteLength);
    const r =
      expectedPrev === undefined
        ? await query(
            "store a first backup",
            `INSERT INTO sync_accounts (account_pub, backup_hash, prev_hash, signature, blob)
             VALUES ($1, $2, NULL, $3, $4)
             ON CONFLICT (account_pub) DO UPDATE
               SET backup_hash = EXCLUDED.backup_hash, prev_hash = NULL,
                   signature = EXCLUDED.signature, blob = EXCLUDED.blob
               WHERE sync_accounts.backup_hash IS NULL
             RETURNING account_pub`,
            [account, next.hash, next.signature, blob],
          )
        : await query(
            "replace a backup",
            // The WHERE is re-checked against the newest row version when another
            // writer got there first, so exactly one of two racing updates applies.
            `UPDATE sync_accounts
               SET prev_hash = backup_hash, backup_hash = $3, signature = $4, blob = $5
             WHERE account_pub = $1 AND backup_hash = $2 AND backup_hash <> $3
             RETURNING account_pub`,
            [account, expectedPrev, next.hash, next.signature, blob],
          );
    return (r.rowCount ?? 0) === 1;
  }

  return {
    async get(account: string): Promise<AccountState> {
      const row = await readRow(account);
      if (row === undefined) return { kind: "unknown" };
      const backup = backupOf(row);
      return backup === undefined ? { kind: "empty" } : { kind: "backup", backup };
    },

    async compareAndSwap(account: string, expectedPrev: string | undefined, next: NewBackup): Promise<CasResult> {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        if (await tryWrite(account, expectedPrev, next)) return { kind: "stored" };
        // Not written: say why from the row as it is now.
        const row = await readRow(account);
        const current = row === undefined ? undefined : backupOf(row);
        const refusal = casRefusal(current, expectedPrev, next.hash);
        if (refusal) return refusal;
      }
      throw new WalletError("sync-store-contention", `${target}: the backup kept changing under a compare-and-swap; try again`);
    },

    async isPaid(account: string): Promise<boolean> {
      const r = await query<{ paid: boolean }>("read an account", "SELECT paid FROM sync_accounts WHERE account_pub = $1", [account]);
      return r.rows[0]?.paid === true;
    },

    async markPaid(account: string): Promise<void> {
      await query(
        "record a payment",
        `INSERT INTO sync_accounts (account_pub, paid) VALUES ($1, TRUE)
         ON CONFLICT (account_pub) DO UPDATE SET paid = TRUE`,
        [account],
      );
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end().catch(() => {});
    },
  };
}

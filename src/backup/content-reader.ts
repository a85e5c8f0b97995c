// Reading a plain backup someone hands us: what an import may trust of it is
// its log, and only after every check here. The Taler-shaped view is never
// read (it is derived; the log is the truth).
//
// Checks, in order, each its own code:
//   not an object, a missing or mistyped field  backup-content-invalid
//   schema_id                                  backup-schema-id-invalid
//   schema_version above ours                  backup-schema-version-unsupported
//   a snapshot                                 backup-content-invalid when malformed,
//                                              backup-snapshot-inconsistent when it disagrees with its tail
//   no log (a state-only backup)               backup-content-invalid
//   the log's columns                          backup-log-invalid
//   clocks that are not the log's              backup-content-invalid
import { isDeviceId, normalizeClock, seqOf, type VectorClock } from "../events/clock.ts";
import { WalletError } from "../errors.ts";
import { BACKUP_SCHEMA_ID, BACKUP_SCHEMA_VERSION } from "./content.ts";
import { decodeLog, type DecodedLog } from "./log-codec.ts";
import { MAX_COLUMN_LENGTH } from "./json-columns.ts";
import { unpackStrings } from "./string-table.ts";
import { decodeSnapshotRecords, snapshotFrame } from "./snapshot-codec.ts";
import type { Snapshot } from "../events/store.ts";

export interface ReadBackup {
  schemaVersion: number;
  walletRootPub: string;
  deviceId: string;
  clocks: VectorClock;
  /** Compaction: the state below the frontier, which the log continues. */
  snapshot?: Snapshot;
  log: DecodedLog;
}

function invalid(message: string, details?: Record<string, unknown>): WalletError {
  return new WalletError("backup-content-invalid", `the backup content is malformed: ${message}`, details);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const field = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

function vectorClockOf(v: unknown, what: string): VectorClock {
  if (!isPlainObject(v)) throw invalid(`${what} is not a vector clock`);
  const out: VectorClock = {};
  for (const d of Object.keys(v)) {
    const s = v[d];
    if (!isDeviceId(d) || typeof s !== "number" || !Number.isSafeInteger(s) || s < 1) throw invalid(`${what}.${d} is not a positive seq of a device`);
    out[d] = s;
  }
  return normalizeClock(out);
}

const sameClock = (a: VectorClock, b: VectorClock) => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((d) => a[d] === b[d]);
};

function stringsOf(v: unknown): string[] {
  const r = unpackStrings(v, MAX_COLUMN_LENGTH);
  if ("problem" in r) throw invalid(r.problem);
  return r.strings;
}

/** Checks the schema of a plain backup and decodes its log; nothing here touches a wallet. */
export function readBackupContent(content: unknown): ReadBackup {
  if (!isPlainObject(content)) throw invalid("it is not a JSON object");
  const schemaId = field(content, "schema_id");
  if (schemaId !== BACKUP_SCHEMA_ID) {
    throw new WalletError("backup-schema-id-invalid", `not a wallet backup: schema_id is ${JSON.stringify(schemaId) ?? "missing"}, not "${BACKUP_SCHEMA_ID}"`, {
      schemaId: typeof schemaId === "string" ? schemaId : null,
    });
  }
  const version = field(content, "schema_version");
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw invalid("schema_version is not a positive integer");
  if (version > BACKUP_SCHEMA_VERSION) {
    throw new WalletError(
      "backup-schema-version-unsupported",
      `the backup has schema_version ${version}; this engine reads up to ${BACKUP_SCHEMA_VERSION}: import it with a newer engine`,
      { schemaVersion: version, supported: BACKUP_SCHEMA_VERSION },
    );
  }
  const walletRootPub = field(content, "wallet_root_pub");
  if (typeof walletRootPub !== "string") throw invalid("wallet_root_pub is not a string");
  const deviceId = field(content, "current_device_id");
  if (typeof deviceId !== "string") throw invalid("current_device_id is not a string");
  const clocks = vectorClockOf(field(content, "clocks"), "clocks");

  const snapshot = field(content, "snapshot");
  const log = field(content, "log");
  if (log === undefined) {
    throw invalid("it has no log: a backup that holds only state (as GNU Taler's wallet-core wrote) cannot be merged without losing updates");
  }
  const strings = stringsOf(field(content, "strings"));
  if (snapshot !== undefined) {
    const { snap, tail } = readSnapshot(snapshot, log, strings, clocks);
    return { schemaVersion: version, walletRootPub, deviceId, clocks, snapshot: snap, log: tail };
  }
  const decoded = decodeLog(log, strings);
  if (!sameClock(clocks, decoded.clock)) {
    throw invalid(`clocks ${JSON.stringify(clocks)} are not the clock of the log it holds, ${JSON.stringify(decoded.clock)}`);
  }
  return { schemaVersion: version, walletRootPub, deviceId, clocks, log: decoded };
}

/**
 * The compaction snapshot: `{ frontier, heads: {device: {hash, lamport}},
 * tables }` with the log holding only the events above the frontier. The
 * heads must be exactly the frontier's devices, the tail must start right
 * above the frontier and chain to its heads, and the clocks must be the
 * frontier joined with the tail; the records are decoded here and checked
 * against the wallet when it adopts them (store.adoptSnapshot).
 */
function readSnapshot(snapshot: unknown, log: unknown, strings: string[], clocks: VectorClock): { snap: Snapshot; tail: DecodedLog } {
  const inconsistent = (why: string) => new WalletError("backup-snapshot-inconsistent", `the backup's snapshot disagrees with its own tail: ${why}`);
  const { frontier, heads } = snapshotFrame(snapshot);
  for (const d of Object.keys(heads)) if (!Object.prototype.hasOwnProperty.call(frontier, d)) throw inconsistent(`a head for ${d}, which the frontier does not cover`);
  for (const d of Object.keys(frontier)) if (!Object.prototype.hasOwnProperty.call(heads, d)) throw inconsistent(`no head for ${d}, which the frontier covers up to ${frontier[d]}`);
  const tail = decodeLog(log, strings, { heads: new Map(Object.entries(heads).map(([d, h]) => [d, h.hash])) });
  for (const c of tail.chains) {
    const below = seqOf(frontier, c.device);
    if (c.seq !== below + 1) throw inconsistent(`the tail of ${c.device} starts at seq ${c.seq}, the frontier stops at ${below}`);
  }
  const whole = normalizeClock({ ...frontier, ...tail.clock });
  if (!sameClock(clocks, whole)) throw inconsistent(`clocks ${JSON.stringify(clocks)} are not the frontier joined with the tail, ${JSON.stringify(whole)}`);
  return { snap: { frontier, heads, records: decodeSnapshotRecords(snapshot, strings) }, tail };
}

// What a request handler works with: the store, the clock, HTTP, and
// `transact`, the one way a decision becomes events in the log.
import type { Decision, LocalDraft } from "../events/catalogue.ts";
import type { Records } from "../events/records.ts";
import type { Store, WriteTxn } from "../events/store.ts";
import type { SchedulePolicy } from "../projections/exchange-updates.ts";
import type { HttpClient } from "../transport/exchange-client.ts";
import type { WalletNotification } from "./notifications.ts";

export interface EngineConfig {
  schedule: SchedulePolicy;
  /** Ephemeral exchanges unused this long are collected by runPendingUpdates. */
  ephemeralGcAfterMs: number;
  /** Deadline of each exchange HTTP request. */
  httpTimeoutMs: number;
  /** A device not heard from this long stops holding the stable frontier back (compaction). */
  retireDevicesAfterMs: number;
  /** Backups fold the events below the stable frontier into a snapshot once there are this many of them (Infinity: never). */
  compactBackupsAbove: number;
}

export interface EngineContext {
  readonly store: Store;
  /** The committed projection records, for reading outside a transaction. */
  readonly records: Records;
  readonly http: HttpClient;
  readonly config: EngineConfig;
  /** Aborted when the wallet starts closing: network waits end early. */
  readonly signal: AbortSignal;
  /** The host's clock in ms, checked (a clock outside 0 … year 9999 is refused, never written). */
  now(): number;
  /** A fresh random id (Crockford, 128 bits) for groups and spends the caller did not name. */
  newId(): string;
  /**
   * Runs `decide` on the records inside one write transaction and appends
   * the events it returns, stamped with time `at` (default now). Nothing is
   * written when it throws. Notifications follow the commit.
   */
  transact<T>(decide: (records: Records) => Decision<T>, at?: number): T;
  /** Runs `fn` in one write transaction (for work that is more than one decision, like an import). */
  write<T>(fn: (tx: WriteTxn) => T): T;
  /** Appends one device-local event in its own transaction. */
  appendLocal(draft: LocalDraft, at: number): void;
  /** Throws wallet-closed once the wallet has begun closing. */
  ensureOpen(): void;
  /** Sends a notification to the listeners (after a commit). */
  emit(n: WalletNotification): void;
}

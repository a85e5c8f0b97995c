// The plain backup: a projection of the wallet into one canonical JSON object.
//
// Two parts. The log (log-codec.ts) is the truth and the only part an import
// reads: the shared events, compactly encoded, which a receiving wallet
// merges like any other remote log. Around it, a view of the state shaped
// like GNU Taler's backup content (exchanges with their ToS etags and
// denominations, the coins with their secrets, withdrawal groups, tombstones),
// derived from the projections for people and tools that read a decrypted
// backup; an import never trusts it.
//
// Example (abridged):
//
//   { "schema_id": "gnu-taler-wallet-backup-content", "schema_version": 1,
//     "wallet_root_pub": "8GSJ…", "current_device_id": "laptop", "timestamp": {"t_ms": 1737000000000},
//     "clocks": {"laptop": 7, "phone": 3},
//     "exchanges": [{ "base_url": "https://exchange.demo.taler.net/", "entry_status": "used",
//        "currency": "KUDOS", "tos_current_etag": "v1", "tos_accepted_etag": "v1",
//        "denominations": [{ "denom_pub_hash": "…", "value": "KUDOS:5", …,
//           "coins": [{ "coin_pub_ref": 4, "current_amount": "KUDOS:3.5", "fresh": false,
//                       "coin_source": {"type": "withdraw", "withdrawal_group_id": "…", "coin_index": 0} }] }],
//        "withdrawal_groups": [{ "withdrawal_group_id": "…", "withdrawn_amount": "KUDOS:10", "coin_count": 2 }] }],
//     "tombstones": [{ "kind": "exchange", "base_url": "https://old.example/", "removed": {"phone": 2} }],
//     "balances": [{ "currency": "KUDOS", "available": "KUDOS:8.5", "pending_incoming": "KUDOS:0" }],
//     "conflicts": [],
//     "strings": ["https://exchange.demo.taler.net/", ["w", 52, "COINPUB1…COINPUB2…"], …],
//     "log": { "devices": […], "types": […], "chains": […], "data": […] } }
//
// `strings` is the content's string table: the log names strings by index,
// and so does the view for coin keys (`coin_pub_ref`), so each coin's key
// appears once in the whole backup. Runs of equal-width strings (coin keys,
// hashes) are packed into one string each: ["w", 52, "KEY1KEY2…"]. `snapshot` is reserved for compaction:
// `{ frontier, heads: {device: {hash, lamport}}, records }` with the log then
// holding only the events above the frontier; a reader that does not know it
// must refuse it (content-reader.ts), never ignore it.
//
// The same event set gives byte-identical canonical JSON apart from
// `current_device_id` and `timestamp`: the log is ordered by device and seq,
// every table in order of first use, and the view reads only shared state,
// never this device's update bookkeeping or the clock.
import { formatUnits } from "../codec/amounts.ts";
import type { AmountString } from "../codec/amounts.ts";
import type { CoinData, KeysFactsData } from "../events/catalogue.ts";
import { normalizeClock, seqOf, type VectorClock } from "../events/clock.ts";
import type { SharedEvent, WalletEvent } from "../events/envelope.ts";
import type { Records } from "../events/records.ts";
import type { Snapshot } from "../events/store.ts";
import { readRegister, survives } from "../merge/registers.ts";
import { coinFacts, coinRemaining, listBalances, listConflictRecords, type CoinFacts, type CoinRecord, type GroupRecord } from "../projections/coins.ts";
import {
  acceptedTos,
  allExchangeRecords,
  currentKeysFacts,
  currentTos,
  entryStatus,
  isSuspended,
  type ExchangeEntryStatus,
} from "../projections/exchanges.ts";
import { createLogEncoder, type EncodedLog } from "./log-codec.ts";
import { encodeSnapshot, type EncodedSnapshot } from "./snapshot-codec.ts";
import { createStringTable, packStrings, type PackedStrings, type StringTable } from "./string-table.ts";

export const BACKUP_SCHEMA_ID = "gnu-taler-wallet-backup-content";
/** The schema this engine writes and the newest it reads; a larger one is refused. */
export const BACKUP_SCHEMA_VERSION = 1;

/** A time in Taler's JSON form (seconds). */
export interface TalerTimestamp {
  t_s: number | "never";
}

export type BackupCoinSource =
  | { type: "withdraw"; withdrawal_group_id: string; coin_index: number }
  | { type: "refresh"; refresh_group_id: string; coin_index: number };

export interface BackupCoin {
  /** Index of the coin's public key in `strings`. */
  coin_pub_ref: number;
  current_amount: AmountString;
  /** Nothing spent from it yet. */
  fresh: boolean;
  coin_source: BackupCoinSource;
  coin_priv?: string;
  blinding_key?: string;
  denom_sig?: string;
}

export interface BackupDenomination {
  denom_pub_hash: string;
  value: AmountString;
  /** The rest is known when the denomination is in the exchange's current /keys. */
  cipher?: string;
  fee_withdraw?: AmountString;
  fee_deposit?: AmountString;
  fee_refresh?: AmountString;
  fee_refund?: AmountString;
  stamp_start?: TalerTimestamp;
  stamp_expire_withdraw?: TalerTimestamp;
  stamp_expire_deposit?: TalerTimestamp;
  stamp_expire_legal?: TalerTimestamp;
  /** Coins of this denomination with value left, in the order the log created them. */
  coins: BackupCoin[];
}

export interface BackupSigningKey {
  key: string;
  stamp_start: TalerTimestamp;
  stamp_expire: TalerTimestamp;
  stamp_end: TalerTimestamp;
}

export interface BackupWithdrawalGroup {
  withdrawal_group_id: string;
  instructed_amount?: AmountString;
  withdrawn_amount: AmountString;
  coin_count: number;
  aborted?: true;
}

export interface BackupExchange {
  base_url: string;
  entry_status: ExchangeEntryStatus;
  currency?: string;
  master_public_key?: string;
  protocol_version?: string;
  tos_current_etag?: string;
  tos_accepted_etag?: string;
  suspended?: true;
  last_update_error?: { code: string; message: string };
  signing_keys: BackupSigningKey[];
  denominations: BackupDenomination[];
  withdrawal_groups: BackupWithdrawalGroup[];
}

/** What deletes removed (the log holds the deletes themselves; these say what they left). */
export type BackupTombstone =
  | { kind: "exchange"; base_url: string; removed: VectorClock }
  | { kind: "withdrawal-group"; withdrawal_group_id: string }
  | { kind: "coin"; coin_pub_ref: number };

export interface BackupContent {
  schema_id: typeof BACKUP_SCHEMA_ID;
  schema_version: number;
  wallet_root_pub: string;
  current_device_id: string;
  timestamp: { t_ms: number };
  /** The vector clock of the log this backup holds. */
  clocks: VectorClock;
  exchanges: BackupExchange[];
  tombstones: BackupTombstone[];
  balances: { currency: string; available: AmountString; pending_incoming: AmountString }[];
  conflicts: { coin_pub_ref: number; spend_ids: string[] }[];
  /** The string table, long runs of equal-width strings packed (string-table.ts); indices count strings, not items. */
  strings: PackedStrings;
  /** Compaction: the state folded from the events at or below its frontier; the log then starts above it. */
  snapshot?: EncodedSnapshot;
  log: EncodedLog;
}

/** What the content is built from: committed records and the shared log (a Store is one). */
export interface BackupSource {
  readonly records: Records;
  clock(): VectorClock;
  rangeOfDevice(device: string, from: number, to?: number): Iterable<SharedEvent>;
  getEvent(device: string, seq: number): SharedEvent | undefined;
  /** Records of the base (coin facts of what a snapshot folded away). */
  readonly baseRecords: Records;
}

export interface BackupIdentity {
  walletRootPub: string;
  deviceId: string;
  timestampMs: number;
}

const dotKey = (device: string, seq: number) => `${device}\u0000${seq}`;

/** What the view needs of the event that created a coin. */
interface CoinOrigin {
  coins: CoinData[];
  source: "withdraw" | "refresh";
  groupId: string;
}

function originOf(e: WalletEvent): CoinOrigin | undefined {
  const ev = e as SharedEvent;
  switch (ev.type) {
    case "coins-withdrawn":
      return { coins: ev.data.coins, source: "withdraw", groupId: ev.data.withdrawalGroupId };
    case "coins-refreshed":
      return { coins: ev.data.outputs, source: "refresh", groupId: ev.data.refreshGroupId };
    default:
      return undefined;
  }
}

const stamp = (t: number | "never"): TalerTimestamp => ({ t_s: t });

/** The plain backup of a wallet: pure given its inputs (the records, the log, who and when). */
export function buildBackupContent(source: BackupSource, identity: BackupIdentity, snapshot?: Snapshot): BackupContent {
  const records = source.records;

  // Coins the view shows (value left) and those purges removed; the events that created the former.
  const live: { coin: CoinRecord; left: AmountString }[] = [];
  const removedCoins: string[] = [];
  const needed = new Set<string>();
  for (const { value: c } of records.entries<CoinRecord>(["coin"])) {
    if (c.removed) {
      removedCoins.push(c.coinPub);
      continue;
    }
    const left = coinRemaining(c);
    if (!left || (left.value === 0 && left.fraction === 0)) continue;
    live.push({ coin: c, left: formatUnits(c.currency, [left.value, left.fraction]) });
    needed.add(dotKey(c.d, c.s));
  }

  const origins = new Map<string, CoinOrigin>();
  const factOrigins = new Map<string, CoinOrigin>();
  function* observed(events: Iterable<SharedEvent>): Iterable<WalletEvent> {
    for (const e of events) {
      if (needed.size > 0 && needed.has(dotKey(e.device, e.seq))) {
        const o = originOf(e);
        if (o) origins.set(dotKey(e.device, e.seq), o);
      }
      yield e as WalletEvent;
    }
  }

  const clock = normalizeClock(source.clock());
  const encoder = createLogEncoder();
  const below = (d: string) => (snapshot ? seqOf(snapshot.frontier, d) : 0);
  for (const device of Object.keys(clock)) {
    if (clock[device] > below(device)) encoder.addChain(device, observed(source.rangeOfDevice(device, below(device) + 1, clock[device])));
  }
  const strings = createStringTable();
  const log = encoder.finish(strings);
  const encodedSnapshot = snapshot && Object.keys(snapshot.frontier).length > 0 ? encodeSnapshot(snapshot, strings) : undefined;

  // Live coins whose creating events lie below the snapshot: their facts from this wallet's log if it
  // still holds the event, else from the base.
  for (const { coin: c } of live) {
    const k = dotKey(c.d, c.s);
    if (origins.has(k)) continue;
    const e = source.getEvent(c.d, c.s);
    const o = e && originOf(e as WalletEvent);
    if (o) {
      origins.set(k, o);
      continue;
    }
    const f = coinFacts(c, undefined, source.baseRecords);
    if (f) {
      const coins: CoinData[] = [];
      coins[c.i] = { coinPub: c.coinPub, denomPubHash: f.denomPubHash, value: c.value, ...secretsOf(f) };
      const had = factOrigins.get(k);
      if (had) had.coins[c.i] = coins[c.i];
      else factOrigins.set(k, { coins, source: f.origin.kind === "withdrawal" ? "withdraw" : "refresh", groupId: f.origin.id });
    }
  }
  for (const [k, o] of factOrigins) origins.set(k, o);

  const view = buildView(records, live, removedCoins, origins, strings);
  return {
    schema_id: BACKUP_SCHEMA_ID,
    schema_version: BACKUP_SCHEMA_VERSION,
    wallet_root_pub: identity.walletRootPub,
    current_device_id: identity.deviceId,
    timestamp: { t_ms: identity.timestampMs },
    clocks: clock,
    ...view,
    strings: packStrings(strings.list),
    ...(encodedSnapshot ? { snapshot: encodedSnapshot } : {}),
    log,
  };
}

/** A coin's secrets, as the creating event would carry them. */
function secretsOf(f: CoinFacts): Pick<CoinData, "coinPriv" | "blindingKey" | "denomSig"> {
  const out: Pick<CoinData, "coinPriv" | "blindingKey" | "denomSig"> = {};
  if (f.coinPriv !== undefined) out.coinPriv = f.coinPriv;
  if (f.blindingKey !== undefined) out.blindingKey = f.blindingKey;
  if (f.denomSig !== undefined) out.denomSig = f.denomSig;
  return out;
}

function denominationOf(d: KeysFactsData["denominations"][number]): BackupDenomination {
  return {
    denom_pub_hash: d.denomPubHash,
    value: d.value,
    cipher: d.cipher,
    fee_withdraw: d.feeWithdraw,
    fee_deposit: d.feeDeposit,
    fee_refresh: d.feeRefresh,
    fee_refund: d.feeRefund,
    stamp_start: stamp(d.stampStart),
    stamp_expire_withdraw: stamp(d.stampExpireWithdraw),
    stamp_expire_deposit: stamp(d.stampExpireDeposit),
    stamp_expire_legal: stamp(d.stampExpireLegal),
    coins: [],
  };
}

function buildView(
  records: Records,
  live: { coin: CoinRecord; left: AmountString }[],
  removedCoins: string[],
  origins: Map<string, CoinOrigin>,
  strings: StringTable,
): Pick<BackupContent, "exchanges" | "tombstones" | "balances" | "conflicts"> {
  // Live coins by exchange, then by denomination.
  const coinsByExchange = new Map<string, Map<string, { value: AmountString; coins: BackupCoin[] }>>();
  for (const { coin: c, left } of live) {
    const origin = origins.get(dotKey(c.d, c.s));
    const data = origin?.coins[c.i];
    // The projection and the log come from one state: a live coin's creating event is always there.
    if (!origin || !data || data.coinPub !== c.coinPub) continue;
    const coin: BackupCoin = {
      coin_pub_ref: strings.intern(c.coinPub),
      current_amount: left,
      fresh: c.spends.size === 0,
      coin_source:
        origin.source === "withdraw"
          ? { type: "withdraw", withdrawal_group_id: origin.groupId, coin_index: c.i }
          : { type: "refresh", refresh_group_id: origin.groupId, coin_index: c.i },
    };
    if (data.coinPriv !== undefined) coin.coin_priv = data.coinPriv;
    if (data.blindingKey !== undefined) coin.blinding_key = data.blindingKey;
    if (data.denomSig !== undefined) coin.denom_sig = data.denomSig;
    let byDenom = coinsByExchange.get(c.url);
    if (!byDenom) coinsByExchange.set(c.url, (byDenom = new Map()));
    let denom = byDenom.get(data.denomPubHash);
    if (!denom) byDenom.set(data.denomPubHash, (denom = { value: c.value, coins: [] }));
    denom.coins.push(coin);
  }

  const exchanges: BackupExchange[] = [];
  const tombstones: BackupTombstone[] = [];
  const groupTombstones: BackupTombstone[] = [];
  /** The exchange's withdrawal groups that are still there; the removed ones become tombstones. */
  const liveGroups = (url: string): GroupRecord[] => {
    const live: GroupRecord[] = [];
    for (const { key } of records.entries(["wgx", url])) {
      const g = records.get<GroupRecord>(["wg", key[2] as string]);
      if (!g) continue;
      if (survives(g.contributors, g.removed)) live.push(g);
      else groupTombstones.push({ kind: "withdrawal-group", withdrawal_group_id: g.withdrawalGroupId });
    }
    return live;
  };
  for (const r of allExchangeRecords(records)) {
    const entry = entryStatus(r);
    if (!entry) {
      tombstones.push({ kind: "exchange", base_url: r.url, removed: normalizeClock(r.removed) });
      // A purge removed its groups with it: they are tombstones whether or not the exchange comes back.
      liveGroups(r.url);
      continue;
    }
    const facts = currentKeysFacts(records, r);
    const ex: BackupExchange = { base_url: r.url, entry_status: entry, signing_keys: [], denominations: [], withdrawal_groups: [] };
    if (facts) {
      ex.currency = facts.currency;
      ex.master_public_key = facts.masterPub;
      ex.protocol_version = facts.version;
      ex.signing_keys = facts.signkeys.map((k) => ({ key: k.key, stamp_start: stamp(k.stampStart), stamp_expire: stamp(k.stampExpire), stamp_end: stamp(k.stampEnd) }));
    }
    const tos = currentTos(r);
    if (tos) ex.tos_current_etag = tos.etag;
    const accepted = acceptedTos(r);
    if (typeof accepted === "string") ex.tos_accepted_etag = accepted;
    if (isSuspended(r)) ex.suspended = true;
    const outcome = readRegister(r.outcome, r.removed)?.v;
    if (outcome && !outcome.ok) ex.last_update_error = { code: outcome.code, message: outcome.message };

    const denoms = new Map<string, BackupDenomination>();
    for (const d of facts?.denominations ?? []) if (!denoms.has(d.denomPubHash)) denoms.set(d.denomPubHash, denominationOf(d));
    for (const [hash, held] of coinsByExchange.get(r.url) ?? []) {
      let d = denoms.get(hash);
      if (!d) denoms.set(hash, (d = { denom_pub_hash: hash, value: held.value, coins: [] }));
      // In the order the log created them (their keys' table order): neighbours then share
      // groups and near indices, and gzip takes ~10% less than in key order (measured).
      d.coins = held.coins.sort((a, b) => a.coin_pub_ref - b.coin_pub_ref);
    }
    ex.denominations = [...denoms.values()].sort((a, b) => (a.denom_pub_hash < b.denom_pub_hash ? -1 : a.denom_pub_hash > b.denom_pub_hash ? 1 : 0));

    for (const g of liveGroups(r.url)) {
      const wg: BackupWithdrawalGroup = {
        withdrawal_group_id: g.withdrawalGroupId,
        withdrawn_amount: formatUnits(g.currency, g.withdrawn),
        coin_count: g.coins,
      };
      if (g.instructed !== undefined) wg.instructed_amount = g.instructed;
      if (g.aborted) wg.aborted = true;
      ex.withdrawal_groups.push(wg);
    }
    exchanges.push(ex);
  }
  tombstones.push(...groupTombstones);
  for (const pub of removedCoins) tombstones.push({ kind: "coin", coin_pub_ref: strings.intern(pub) });

  return {
    exchanges,
    tombstones,
    balances: listBalances(records).map((b) => ({ currency: b.currency, available: b.available, pending_incoming: b.pendingIncoming })),
    conflicts: listConflictRecords(records).map((c) => ({ coin_pub_ref: strings.intern(c.coinPub), spend_ids: c.spendIds })),
  };
}

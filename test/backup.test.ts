// Backups end to end on real wallets: the encrypted file read back by an
// independent implementation written here (node:crypto HMACs for Taler's kdf,
// tweetnacl, fflate), the content's determinism and what it holds, every way
// an import can be refused (each with its code, and nothing changed),
// recovery with both strategies against a real sync server on loopback, and
// the device-local list of backup providers.
import { createHmac } from "node:crypto";
import { gunzipSync, gzipSync } from "fflate";
import nacl from "tweetnacl";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  canonicalJson,
  decodeCrock,
  decryptBackupFile,
  deriveSyncAccountKey,
  eddsaPublicFromSeed,
  encodeCrock,
  openWallet,
  readBackupContent,
  startSyncServer,
  syncUpload,
  unpackStrings,
  type BackupContent,
  type SyncServer,
  type Wallet,
  type WalletEvent,
} from "../src/index.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { isWalletError } from "../src/errors.ts";
import { tempDir, tempWallet } from "./support/temp-wallet.ts";

// The store does not offer WriteTxn.replaceRootSeed yet (requested of the
// integrator). Until it does, this file's stores get an in-memory stand-in,
// so strategy "theirs" can be tested now; once the real method exists the
// wrapper passes it through untouched and the reopen checks run too.


// ------------------------------------------------------------ the independent implementation

/** Taler's kdf as DESIGN.md states it: PRK = HMAC-SHA512(salt, ikm); T(i) = HMAC-SHA256(PRK, T(i-1) ‖ info ‖ i). */
function refKdf(outLen: number, ikm: Uint8Array, salt: string, info: string): Uint8Array {
  const prk = createHmac("sha512", salt).update(ikm).digest();
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < outLen; i++) {
    prev = createHmac("sha256", prk).update(prev).update(info).update(Buffer.of(i)).digest();
    blocks.push(prev);
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, outLen));
}

const refBlobKey = (seed: Uint8Array) => refKdf(32, seed, "taler-sync-blob-secret-salt", "taler-sync-blob-secret-info");

/** TLRWBK01 ‖ nonce ‖ secretbox(gzip(text)) → text, by DESIGN.md alone. */
function refDecrypt(file: Uint8Array, seed: Uint8Array): string {
  expect(Buffer.from(file.subarray(0, 8)).toString("ascii")).toBe("TLRWBK01");
  const gz = nacl.secretbox.open(file.subarray(32), file.subarray(8, 32), refBlobKey(seed));
  expect(gz).not.toBeNull();
  return new TextDecoder("utf-8", { fatal: true }).decode(gunzipSync(gz!));
}

/** An authentic file around any plaintext: lets the tests reach every check behind the MAC. */
function refSeal(plain: Uint8Array, seed: Uint8Array): Uint8Array {
  const nonce = nacl.randomBytes(24);
  return new Uint8Array(Buffer.concat([Buffer.from("TLRWBK01"), nonce, nacl.secretbox(plain, nonce, refBlobKey(seed))]));
}

const refEncrypt = (text: string, seed: Uint8Array) => refSeal(gzipSync(new TextEncoder().encode(text)), seed);

// ------------------------------------------------------------ a history with a bit of everything

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
let exchange: TestExchange;
const cleanups: (() => Promise<void> | void)[] = [];
// Providers are added only after their /config answers: three real sync servers stand in for "sync", "inactive"/"mine" and "other".
const providerServers: { server: SyncServer; dir: { path: string; cleanup(): void } }[] = [];
/** Base URL of provider i, with its trailing slash. */
const P = (i: number) => providerServers[i].server.baseUrl;

beforeAll(async () => {
  exchange = await startTestExchange({ now: () => NOW });
  for (let i = 0; i < 3; i++) {
    const dir = tempDir();
    providerServers.push({ dir, server: await startSyncServer({ port: 0, host: "127.0.0.1", path: dir.path }) });
  }
});
afterAll(async () => {
  await exchange.close();
  for (const p of providerServers) {
    await p.server.close();
    p.dir.cleanup();
  }
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function wallet(deviceId: string): Promise<Wallet> {
  const t = await tempWallet({ deviceId, now: () => NOW });
  cleanups.push(t.cleanup);
  return t.wallet;
}

const seedOf = async (w: Wallet) => decodeCrock((await w.getBackupRecovery()).walletRootPriv);

/** Two devices: an updated exchange with ToS accepted, withdrawals with coin secrets, spends, a refresh, a deleted exchange, a double spend. */
async function history(): Promise<{ laptop: Wallet; phone: Wallet; url: string }> {
  const laptop = await wallet("laptop");
  const phone = await wallet("phone");
  const url = exchange.baseUrl;
  const cur = exchange.currency;
  await laptop.addExchange({ exchangeBaseUrl: url });
  await laptop.updateExchange({ exchangeBaseUrl: url });
  const tos = await laptop.getExchangeTos({ exchangeBaseUrl: url });
  await laptop.setExchangeTosAccepted({ exchangeBaseUrl: url, etag: tos.currentEtag });
  await laptop.recordWithdrawal({
    exchangeBaseUrl: url,
    withdrawalGroupId: "wg-1",
    amount: `${cur}:12`,
    coins: [
      { coinPub: "COIN-A", denomPubHash: "DENOM-5", value: `${cur}:5`, coinPriv: "PRIV-A", blindingKey: "BK-A", denomSig: "SIG-A" },
      { coinPub: "COIN-B", denomPubHash: "DENOM-5", value: `${cur}:5`, coinPriv: "PRIV-B" },
    ],
  });
  await laptop.recordSpend({ coinPub: "COIN-A", amount: `${cur}:1.5`, spendId: "coffee" });
  await laptop.addExchange({ exchangeBaseUrl: "https://browsed.example/" });
  await laptop.deleteExchange({ exchangeBaseUrl: "https://browsed.example/" });
  await phone.importEvents(await laptop.exportEvents());
  await phone.recordRefresh({ refreshGroupId: "r-1", inputs: [{ coinPub: "COIN-A", amount: `${cur}:3.5` }], outputs: [{ coinPub: "COIN-C", denomPubHash: "DENOM-3", value: `${cur}:3` }] });
  await phone.recordSpend({ coinPub: "COIN-B", amount: `${cur}:4`, spendId: "books" });
  await laptop.recordSpend({ coinPub: "COIN-B", amount: `${cur}:3`, spendId: "lunch" });
  await laptop.importEvents(await phone.exportEvents({ since: await laptop.getVectorClock() }));
  return { laptop, phone, url };
}

/** Everything an import could change, as one comparable value. */
async function state(w: Wallet) {
  return { clock: await w.getVectorClock(), events: canonicalJson(await w.exportEvents()), records: await w.dumpProjections(), root: w.walletRootPub };
}

/** The content's string table, unpacked (indices count strings). */
function stringsOf(c: BackupContent): string[] {
  const r = unpackStrings(c.strings, 1e9);
  if ("problem" in r) throw new Error(r.problem);
  return r.strings;
}

const eventBytes = (events: Iterable<WalletEvent>) => new Map([...events].map((e) => [`${e.device}:${e.seq}`, canonicalJson(e)]));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isWalletError(e) ? e.code : `non-wallet-error:${String(e)}`;
  }
  return undefined;
}

// ------------------------------------------------------------ the file and the content

describe("the encrypted backup", () => {
  it("decrypts with an independent TLRWBK01 implementation to the canonical JSON of the plain backup", async () => {
    const { laptop } = await history();
    const file = await laptop.exportBackupEncrypted();
    const text = refDecrypt(file, await seedOf(laptop));
    const plain = await laptop.exportBackupPlain();
    expect(text).toBe(canonicalJson(plain));
    expect(canonicalJson(JSON.parse(text))).toBe(text);
    // The library's own decryptBackupFile agrees, from the recovery secret alone.
    expect(canonicalJson(decryptBackupFile(file, (await laptop.getBackupRecovery()).walletRootPriv))).toBe(text);
  });

  it("is a fresh file each time (random nonce) with the same content", async () => {
    const { laptop } = await history();
    const seed = await seedOf(laptop);
    const [a, b] = [await laptop.exportBackupEncrypted(), await laptop.exportBackupEncrypted()];
    expect(Buffer.from(a.subarray(8, 32)).equals(Buffer.from(b.subarray(8, 32)))).toBe(false);
    expect(refDecrypt(a, seed)).toBe(refDecrypt(b, seed));
  });

  it("holds the header fields and exactly the log's events, byte for byte", async () => {
    const { laptop } = await history();
    const content = await laptop.exportBackupPlain();
    expect(content).toMatchObject({
      schema_id: "gnu-taler-wallet-backup-content",
      schema_version: 1,
      wallet_root_pub: laptop.walletRootPub,
      current_device_id: "laptop",
      timestamp: { t_ms: NOW },
      clocks: await laptop.getVectorClock(),
    });
    const read = readBackupContent(JSON.parse(canonicalJson(content)));
    expect(eventBytes(read.log.events())).toEqual(eventBytes(await laptop.exportEvents()));
  });

  it("shows a Taler-shaped view: exchanges with ToS etags and denominations, live coins with their secrets, groups, tombstones", async () => {
    const { laptop, url } = await history();
    const c = await laptop.exportBackupPlain();
    const strings = stringsOf(c);
    const ex = c.exchanges.find((e) => e.base_url === url)!;
    expect(ex).toMatchObject({ entry_status: "used", currency: exchange.currency, tos_current_etag: "v1", tos_accepted_etag: "v1" });
    expect(ex.signing_keys.length).toBeGreaterThan(0);
    const coins = ex.denominations.flatMap((d) => d.coins.map((coin) => ({ denom: d.denom_pub_hash, pub: strings[coin.coin_pub_ref], ...coin })));
    // COIN-A was refreshed away; COIN-B is overspent (a conflict); COIN-C is live.
    expect(coins.map((x) => x.pub)).toEqual(["COIN-C"]);
    expect(coins[0]).toMatchObject({ denom: "DENOM-3", current_amount: `${exchange.currency}:3`, fresh: true, coin_source: { type: "refresh", refresh_group_id: "r-1", coin_index: 0 } });
    expect(ex.withdrawal_groups).toEqual([{ withdrawal_group_id: "wg-1", instructed_amount: `${exchange.currency}:12`, withdrawn_amount: `${exchange.currency}:10`, coin_count: 2 }]);
    expect(c.conflicts.map((x) => ({ pub: strings[x.coin_pub_ref], ids: x.spend_ids }))).toEqual([{ pub: "COIN-B", ids: ["books", "lunch"] }]);
    const deleted = (await laptop.exportEvents()).find((e) => e.type === "exchange-deleted")!;
    expect(c.tombstones).toEqual([{ kind: "exchange", base_url: "https://browsed.example/", removed: deleted.deps }]);
    // A coin's public key is written once in the whole backup.
    const text = canonicalJson(c);
    expect(text.split('"COIN-C"').length - 1).toBe(1);
  });

  it("packs runs of equal-width strings (coin keys) into one string each, and reads them back", async () => {
    const w = await wallet("many");
    await w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
    const pubs = Array.from({ length: 20 }, (_, i) => encodeCrock(eddsaPublicFromSeed(new Uint8Array(32).fill(i + 1))));
    await w.recordWithdrawal({ exchangeBaseUrl: "https://ex.example/", withdrawalGroupId: "g", coins: pubs.map((coinPub) => ({ coinPub, denomPubHash: "D", value: "KUDOS:1" })) });
    const c = await w.exportBackupPlain();
    expect(c.strings).toContainEqual(["w", 52, pubs.join("")]);
    expect(stringsOf(c)).toEqual(expect.arrayContaining(pubs));
    const fresh = await wallet("fresh");
    await fresh.importBackupPlain(JSON.parse(canonicalJson(c)));
    expect(await fresh.getBalances()).toEqual(await w.getBalances());
  });

  it("keeps the secrets of live coins in the view", async () => {
    const w = await wallet("solo");
    await w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
    await w.recordWithdrawal({
      exchangeBaseUrl: "https://ex.example/",
      withdrawalGroupId: "g",
      coins: [{ coinPub: "P1", denomPubHash: "D", value: "KUDOS:2", coinPriv: "PRIV", blindingKey: "BK", denomSig: "SIG" }],
    });
    const c = await w.exportBackupPlain();
    expect(c.exchanges[0].denominations[0].coins[0]).toEqual({
      coin_pub_ref: stringsOf(c).indexOf("P1"),
      current_amount: "KUDOS:2",
      fresh: true,
      coin_source: { type: "withdraw", withdrawal_group_id: "g", coin_index: 0 },
      coin_priv: "PRIV",
      blinding_key: "BK",
      denom_sig: "SIG",
    });
  });

  it("is deterministic: replicas holding the same events write the same bytes but for device id and timestamp", async () => {
    const { laptop, phone } = await history();
    await phone.importEvents(await laptop.exportEvents({ since: await phone.getVectorClock() }));
    // Devices of one person share the root key; these two were opened apart, so their wallet_root_pub differs too.
    const strip = (c: BackupContent) => canonicalJson({ ...c, current_device_id: undefined, timestamp: undefined, wallet_root_pub: undefined });
    const [a, b] = [strip(await phone.exportBackupPlain()), strip(await laptop.exportBackupPlain())];
    if (a !== b) {
      const i = [...a].findIndex((ch, k) => ch !== b[k]);
      expect(a.slice(Math.max(0, i - 200), i + 200)).toBe(b.slice(Math.max(0, i - 200), i + 200));
    }
  });

  it("never carries this device's backup providers", async () => {
    const { laptop } = await history();
    await laptop.addBackupProvider({ backupProviderBaseUrl: P(0), activate: true });
    expect(canonicalJson(await laptop.exportBackupPlain())).not.toContain(P(0).replace(/^http:\/\//, "").replace(/\/$/, ""));
  });
});

describe("importing a backup merges, never replaces", () => {
  it("a second device imports the encrypted backup and both converge", async () => {
    const { laptop, phone } = await history();
    const tablet = await wallet("tablet");
    await tablet.addExchange({ exchangeBaseUrl: "https://tablet-only.example/" });
    const r = await tablet.importBackupEncrypted(await laptop.exportBackupEncrypted(), { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv });
    expect(r.added).toBe(Object.values(await laptop.getVectorClock()).reduce((a, b) => a + b, 0));
    // The tablet keeps its own event: a merge, not a replace.
    expect((await tablet.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toContain("https://tablet-only.example/");
    await laptop.importBackupEncrypted(await tablet.exportBackupEncrypted(), { walletRootPriv: (await tablet.getBackupRecovery()).walletRootPriv });
    expect(await laptop.getBalances()).toEqual(await tablet.getBalances());
    expect(await laptop.listConflicts()).toEqual(await tablet.listConflicts());
    expect(await laptop.getVectorClock()).toEqual(await tablet.getVectorClock());
    void phone;
  });

  it("is idempotent", async () => {
    const { laptop } = await history();
    const file = await laptop.exportBackupEncrypted();
    const before = await state(laptop);
    expect(await laptop.importBackupEncrypted(file)).toEqual({ added: 0, known: Object.values(before.clock).reduce((a, b) => a + b, 0) });
    expect(await state(laptop)).toEqual(before);
  });

  it("a spend the backup predates is not undone (a spent coin is never resurrected)", async () => {
    const { laptop, phone } = await history();
    const old = await laptop.exportBackupPlain();
    await phone.recordSpend({ coinPub: "COIN-C", amount: `${exchange.currency}:2`, spendId: "later-phone" });
    const before = (await phone.getCoin({ coinPub: "COIN-C" })).remaining;
    await phone.importBackupPlain(old);
    expect((await phone.getCoin({ coinPub: "COIN-C" })).remaining).toBe(before);
  });

  it("emits events-imported after the commit", async () => {
    const { laptop } = await history();
    const fresh = await wallet("fresh");
    const seen: unknown[] = [];
    fresh.addNotificationListener((n) => seen.push(n));
    const { added } = await fresh.importBackupPlain(await laptop.exportBackupPlain());
    expect(seen).toContainEqual({ type: "events-imported", added, known: 0 });
  });
});

describe("every bad backup is refused with its own code, and nothing changes", () => {
  async function refused(w: Wallet, code: string, attempt: () => Promise<unknown>) {
    const before = await state(w);
    expect(await codeOf(attempt())).toBe(code);
    expect(await state(w)).toEqual(before);
  }

  /** A valid plain backup of another wallet, as plain JSON to tamper with. */
  async function plainOf(w: Wallet): Promise<Record<string, any>> {
    return JSON.parse(canonicalJson(await w.exportBackupPlain()));
  }

  it("the file: wrong key, bad magic, truncated, a flipped byte, bad gzip, bad JSON, a gzip bomb", async () => {
    const { laptop, phone } = await history();
    const target = await wallet("target");
    await target.addExchange({ exchangeBaseUrl: "https://mine.example/" });
    const file = await laptop.exportBackupEncrypted();
    const seed = await seedOf(target);
    const flip = (i: number) => {
      const f = Uint8Array.from(file);
      f[i] ^= 0x01;
      return f;
    };
    const cases: [string, string, Uint8Array][] = [
      ["another wallet's key", "backup-decrypt-failed", file],
      ["bad magic", "backup-bad-magic", flip(0)],
      ["cut inside the header", "backup-truncated", file.subarray(0, 30)],
      ["cut inside the body", "backup-decrypt-failed", file.subarray(0, file.length - 10)],
      ["a flipped byte in the nonce", "backup-decrypt-failed", flip(10)],
      ["a flipped byte in the body", "backup-decrypt-failed", flip(file.length - 1)],
      ["authentic but not gzip", "backup-bad-gzip", refSeal(new TextEncoder().encode("plain text, not gzip"), seed)],
      ["authentic gzip of something that is not JSON", "backup-bad-json", refEncrypt("{not json", seed)],
      ["authentic gzip of JSON that is not an object", "backup-bad-json", refEncrypt("[1,2]", seed)],
    ];
    for (const [what, code, bytes] of cases) {
      const before = await state(target);
      expect(await codeOf(target.importBackupEncrypted(bytes)), what).toBe(code);
      expect(await state(target), what).toEqual(before);
    }
    void phone;
  });

  it("a gzip bomb is refused past the bound without inflating it", async () => {
    const target = await wallet("target");
    // 64 MiB of zeros in a ~64 KiB authentic file; refused at the 1 MiB bound asked for.
    const bomb = refSeal(gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 }), await seedOf(target));
    expect(bomb.length).toBeLessThan(100_000);
    await refused(target, "backup-too-large", () => target.importBackupEncrypted(bomb, { maxPlainBytes: 1024 * 1024 }));
  });

  it("the content: wrong schema_id, a newer schema_version, no log, clocks that lie, a broken log, a snapshot", async () => {
    const { laptop } = await history();
    const target = await wallet("target");
    const seed = await seedOf(target);
    const good = await plainOf(laptop);
    const variants: [string, string, (c: Record<string, any>) => unknown][] = [
      ["wrong schema_id", "backup-schema-id-invalid", (c) => ({ ...c, schema_id: "gnu-taler-something-else" })],
      ["no schema_id", "backup-schema-id-invalid", (c) => ({ ...c, schema_id: undefined })],
      ["a newer schema_version", "backup-schema-version-unsupported", (c) => ({ ...c, schema_version: 2 })],
      ["a schema_version that is no version", "backup-content-invalid", (c) => ({ ...c, schema_version: "1" })],
      ["a state-only backup (no log), as wallet-core wrote", "backup-content-invalid", (c) => ({ ...c, log: undefined })],
      ["clocks that are not the log's", "backup-content-invalid", (c) => ({ ...c, clocks: { ...c.clocks, laptop: 99 } })],
      ["a chain column one short", "backup-log-invalid", (c) => ({ ...c, log: { ...c.log, chains: c.log.chains.map((ch: any, i: number) => (i === 0 ? { ...ch, lamport: ch.lamport.slice(1) } : ch)) } })],
      ["a string index past the table", "backup-log-invalid", (c) => ({ ...c, strings: c.strings.slice(0, 1) })],
      ["a packed run whose text is not a whole number of strings", "backup-content-invalid", (c) => ({ ...c, strings: [...c.strings, ["w", 52, "X".repeat(53)]] })],
      ["a string table item of another kind", "backup-content-invalid", (c) => ({ ...c, strings: [...c.strings, 7] })],
      ["an unknown field in the log", "backup-log-invalid", (c) => ({ ...c, log: { ...c.log, extra: 1 } })],
      [
        "a snapshot that disagrees with its own tail",
        "backup-snapshot-inconsistent",
        (c) => ({ ...c, snapshot: { frontier: { laptop: 3 }, heads: { laptop: { hash: "X", lamport: 3 } }, records: {} } }),
      ],
      ["a snapshot with heads for devices its frontier does not cover", "backup-snapshot-inconsistent", (c) => ({ ...c, snapshot: { frontier: {}, heads: { laptop: { hash: "H", lamport: 1 } }, tables: [] } })],
      ["a snapshot whose tables are not a list", "backup-log-invalid", (c) => ({ ...c, snapshot: { frontier: {}, heads: {}, tables: 7 } })],
      ["a snapshot whose frontier is no vector clock", "backup-content-invalid", (c) => ({ ...c, snapshot: { frontier: [1], heads: {}, tables: [] } })],
    ];
    for (const [what, code, change] of variants) {
      const bad = change(good);
      const before = await state(target);
      expect(await codeOf(target.importBackupPlain(bad)), what).toBe(code);
      expect(await codeOf(target.importBackupEncrypted(refEncrypt(canonicalJson(bad), seed))), `${what} (encrypted)`).toBe(code);
      expect(await state(target), what).toEqual(before);
    }
  });

  it("a backup whose events contradict this wallet's (an equivocation) changes nothing", async () => {
    const { laptop, phone } = await history();
    const c = await plainOf(phone);
    // Every spend amount rewritten: the phone's copies of events the laptop holds now differ from the laptop's.
    const t = c.log.types.indexOf("coin-spent");
    const spends = c.log.chains.reduce((n: number, ch: any) => n + ch.type.filter((x: number) => x === t).length, 0);
    const amount = c.log.data[t].find((e: any) => e.path.length === 1 && e.path[0] === "amount");
    amount.val = ["raw", new Array(spends).fill(`${exchange.currency}:0.01`)];
    await refused(laptop, "import-equivocation", () => laptop.importBackupPlain(c));
  });

  it("a backup that is not an object, or not a backup at all", async () => {
    const target = await wallet("target");
    await refused(target, "backup-content-invalid", () => target.importBackupPlain([1, 2, 3]));
    await refused(target, "backup-content-invalid", () => target.importBackupPlain(null));
    await refused(target, "backup-schema-id-invalid", () => target.importBackupPlain({ hello: "world" }));
    await refused(target, "request-invalid", () => target.importBackupEncrypted("not base64!" as unknown as Uint8Array));
    await refused(target, "backup-key-invalid", () => target.importBackupEncrypted(new Uint8Array(64), { walletRootPriv: "not a key" }));
  });
});

// ------------------------------------------------------------ recovery

describe("recovery", () => {
  let sync: SyncServer;
  let syncDir: { path: string; cleanup(): void };
  beforeAll(async () => {
    syncDir = tempDir();
    sync = await startSyncServer({ port: 0, host: "127.0.0.1", path: syncDir.path });
  });
  afterAll(async () => {
    await sync.close();
    syncDir.cleanup();
  });

  /** Puts `w`'s encrypted backup at the sync server, under the account its root key derives (what a backup cycle does). */
  async function upload(w: Wallet): Promise<void> {
    const account = deriveSyncAccountKey(await seedOf(w), sync.baseUrl);
    const r = await syncUpload(fetch, sync.baseUrl, account.seed, await w.exportBackupEncrypted());
    expect(r.kind).toBe("stored");
  }

  it("getBackupRecovery gives the root key and the active providers", async () => {
    const w = await wallet("w");
    await w.addBackupProvider({ backupProviderBaseUrl: P(1) });
    await w.addBackupProvider({ backupProviderBaseUrl: P(0).slice(0, -1), activate: true });
    const r = await w.getBackupRecovery();
    expect(encodeCrock(eddsaPublicFromSeed(decodeCrock(r.walletRootPriv)))).toBe(w.walletRootPub);
    expect(r.providers).toEqual([{ url: P(0) }]);
  });

  it("without a strategy, a wallet with backup providers refuses another key, and nothing changes", async () => {
    const { laptop } = await history();
    await upload(laptop);
    const other = await wallet("other");
    await other.addBackupProvider({ backupProviderBaseUrl: P(2) });
    const before = await state(other);
    expect(await codeOf(other.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [{ url: sync.baseUrl }] } }))).toBe(
      "backup-recovery-strategy-required",
    );
    expect(await state(other)).toEqual(before);
  });

  it("ours: keeps this wallet's key and providers, and merges what the recovered key decrypts", async () => {
    const { laptop } = await history();
    await upload(laptop);
    const other = await wallet("other");
    await other.addExchange({ exchangeBaseUrl: "https://other-only.example/" });
    await other.addBackupProvider({ backupProviderBaseUrl: P(2), activate: true });
    const rootBefore = other.walletRootPub;
    const r = await other.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [{ url: sync.baseUrl }] }, strategy: "ours" });
    expect(r).toMatchObject({ strategy: "ours", known: 0 });
    expect(r.added).toBe(Object.values(await laptop.getVectorClock()).reduce((a, b) => a + b, 0));
    expect(other.walletRootPub).toBe(rootBefore);
    expect((await other.getBackupRecovery()).providers).toEqual([{ url: P(2) }]);
    expect(await other.getBalances()).toEqual(await laptop.getBalances());
    expect((await other.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toContain("https://other-only.example/");
  });

  it("theirs: adopts the recovered key and providers, keeps and merges this device's history, and re-keys its backups", async () => {
    const { laptop } = await history();
    await upload(laptop);
    const recovery = await laptop.getBackupRecovery();
    const phone2 = await wallet("phone2");
    await phone2.addExchange({ exchangeBaseUrl: "https://phone2-only.example/" });
    const r = await phone2.loadBackupRecovery({ recovery: { ...recovery, providers: [{ url: sync.baseUrl }] }, strategy: "theirs" });
    expect(r.strategy).toBe("theirs");
    expect(phone2.walletRootPub).toBe(laptop.walletRootPub);
    expect((await phone2.getBackupRecovery()).walletRootPriv).toBe(recovery.walletRootPriv);
    expect((await phone2.getBackupRecovery()).providers).toEqual([{ url: sync.baseUrl }]);
    // Its own history is kept, and its next backup is under the recovered key: the laptop reads it with its own.
    const file = await phone2.exportBackupEncrypted();
    expect(decryptBackupFile(file, recovery.walletRootPriv)).toMatchObject({ wallet_root_pub: laptop.walletRootPub });
    await laptop.importBackupEncrypted(file);
    expect((await laptop.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl)).toContain("https://phone2-only.example/");
    expect(await laptop.getVectorClock()).toEqual(await phone2.getVectorClock());
    expect(await laptop.getBalances()).toEqual(await phone2.getBalances());
  });

  it("theirs survives reopening (when the store can switch keys)", async () => {
    const { laptop } = await history();
    const dir = tempDir();
    cleanups.push(() => dir.cleanup());
    let w = await openWallet({ path: dir.path, deviceId: "reopened", now: () => NOW });
    await w.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [] } });
    await w.close();
    w = await openWallet({ path: dir.path, now: () => NOW });
    expect(w.walletRootPub).toBe(laptop.walletRootPub);
    await w.close();
  });

  it("without a strategy and without providers, the recovered key is adopted (wallet-core's default)", async () => {
    const { laptop } = await history();
    const fresh = await wallet("fresh");
    const r = await fresh.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [] } });
    expect(r).toEqual({ strategy: "theirs", added: 0, known: 0 });
    expect(fresh.walletRootPub).toBe(laptop.walletRootPub);
  });

  it("this wallet's own recovery is a merge and changes no key", async () => {
    const w = await wallet("w");
    await w.addBackupProvider({ backupProviderBaseUrl: P(2), activate: true });
    const own = await w.getBackupRecovery();
    expect(await w.loadBackupRecovery({ recovery: { ...own, providers: [] } })).toEqual({ strategy: "same-key", added: 0, known: 0 });
    expect((await w.getBackupRecovery()).walletRootPriv).toBe(own.walletRootPriv);
  });

  it("an unreachable provider refuses the recovery and changes nothing (no key switch either)", async () => {
    const { laptop } = await history();
    const goneDir = tempDir();
    cleanups.push(() => goneDir.cleanup());
    const gone = await startSyncServer({ port: 0, host: "127.0.0.1", path: goneDir.path });
    const url = gone.baseUrl;
    await gone.close();
    const fresh = await wallet("fresh");
    const before = await state(fresh);
    const code = await codeOf(fresh.loadBackupRecovery({ recovery: { walletRootPriv: (await laptop.getBackupRecovery()).walletRootPriv, providers: [{ url }] }, strategy: "theirs" }));
    expect(code).toBe("sync-network-error");
    expect(await state(fresh)).toEqual(before);
  });
});

describe("backup providers (device-local)", () => {
  it("are added inactive unless activated, changed by adding again, and removed", async () => {
    const w = await wallet("w");
    await w.addBackupProvider({ backupProviderBaseUrl: P(0).slice(0, -1) });
    expect((await w.getBackupRecovery()).providers).toEqual([]);
    await w.addBackupProvider({ backupProviderBaseUrl: P(0), activate: true });
    expect((await w.getBackupRecovery()).providers).toEqual([{ url: P(0) }]);
    await w.addBackupProvider({ backupProviderBaseUrl: P(0) });
    expect((await w.getBackupRecovery()).providers).toEqual([{ url: P(0) }]);
    await w.removeBackupProvider({ backupProviderBaseUrl: P(0) });
    expect((await w.getBackupRecovery()).providers).toEqual([]);
  });

  it("removing one this device does not have is refused", async () => {
    const w = await wallet("w");
    expect(await codeOf(w.removeBackupProvider({ backupProviderBaseUrl: "https://nope.example/" }))).toBe("backup-provider-unknown");
    expect(await codeOf(w.addBackupProvider({ backupProviderBaseUrl: "ftp://nope.example/" }))).toBe("url-invalid");
  });

  it("never travel with the log", async () => {
    const w = await wallet("w");
    await w.addBackupProvider({ backupProviderBaseUrl: P(0), activate: true });
    expect(await w.exportEvents()).toEqual([]);
    expect(await w.getVectorClock()).toEqual({});
  });
});

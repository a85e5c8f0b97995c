// Adopting a snapshot through the public API: recovery from several providers,
// bases that neither covers the other (devices that retired each other),
// what an adoption reports, and refusals after an adoption. Each case was a
// bug found by review (stop 25) and reproduced first; so were the notification
// cases (before-values across a refold) found by the review of those fixes.
import fc from "fast-check";
import { afterEach, expect, it } from "vitest";
import { PROJECTIONS } from "../src/projections/index.ts";
import { startSyncServer } from "../src/transport/sync-server.ts";
import { openWallet, type OpenWalletOptions, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 25);
const DAY = 86_400_000;
let t = Date.UTC(2025, 0, 15, 12);
const now = () => t;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  t = Date.UTC(2025, 0, 15, 12);
});

async function server() {
  const d = tempDir();
  cleanups.push(d.cleanup);
  const s = await startSyncServer({ port: 0, host: "127.0.0.1", path: d.path });
  cleanups.push(() => s.close());
  return s;
}

async function wallet(deviceId: string, extra: Partial<OpenWalletOptions> = {}, path?: string): Promise<Wallet & { path: string }> {
  let p = path;
  if (!p) {
    const d = tempDir();
    cleanups.push(d.cleanup);
    p = d.path;
  }
  const w = await openWallet({ path: p, deviceId, now, httpTimeoutMs: 2_000, ...extra });
  cleanups.push(() => w.close());
  return Object.assign(w, { path: p });
}

const LOCAL_TABLES = new Set(PROJECTIONS.flatMap((p) => Object.entries(p.tables).filter(([, c]) => c.local === true).map(([name]) => name)));
const urls = async (w: Wallet) => (await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl);

it("recovery from two compacted backups with incomparable frontiers loses no coin, and the wallet reopens", async () => {
  const p1 = await server();
  const p2 = await server();
  const EX = "https://ex.example/";
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  await laptop.addExchange({ exchangeBaseUrl: EX }); // laptop:1
  await laptop.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "C1", denomPubHash: "D", value: "KUDOS:5" }] }); // laptop:2
  const rec = await laptop.getBackupRecovery();
  // The phone holds laptop:1..2, writes phone:1, retires the laptop and compacts to {laptop:2, phone:1} at p2.
  const phone = await wallet("phone", { compactBackupsAbove: 0, retireDevicesAfterMs: 1 });
  await phone.loadBackupRecovery({ recovery: { walletRootPriv: rec.walletRootPriv, providers: [] }, strategy: "theirs" });
  await phone.importEvents(await laptop.exportEvents());
  await phone.addExchange({ exchangeBaseUrl: "https://phone.example/" }); // phone:1
  t += 1000;
  await phone.addBackupProvider({ backupProviderBaseUrl: p2.baseUrl, activate: true });
  await phone.runBackupCycle();
  // The laptop withdraws again and compacts to {laptop:3} at p1.
  await laptop.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "C2", denomPubHash: "D", value: "KUDOS:7" }] }); // laptop:3
  await laptop.addBackupProvider({ backupProviderBaseUrl: p1.baseUrl, activate: true });
  await laptop.runBackupCycle();

  const tablet = await wallet("tablet");
  const recovery = { walletRootPriv: rec.walletRootPriv, providers: [{ url: p1.baseUrl }, { url: p2.baseUrl }] };
  // The two snapshots cannot be joined: each holds, folded, an event the other lacks (laptop:3; phone:1).
  // The second is checked against the base the first one made in the same request, not the committed
  // (empty) base: before, it moved the base down past laptop:3, lost C2, and the wallet did not reopen.
  const err = await tablet.loadBackupRecovery({ recovery, strategy: "theirs" }).catch((e: unknown) => e);
  expect(err).toMatchObject({ name: "WalletError", code: "snapshot-incomparable", details: { missing: { device: "laptop", from: 3, to: 3 } } });
  expect(await tablet.getVectorClock()).toEqual({});
  await tablet.close();
  const again = await wallet("tablet", {}, tablet.path);
  expect(await again.getVectorClock()).toEqual({});
  // Each provider alone recovers, and what the other holds arrives as events once its device syncs them.
  await again.loadBackupRecovery({ recovery: { ...recovery, providers: [{ url: p1.baseUrl }] }, strategy: "theirs" });
  expect((await again.getBalances()).balances.map((b) => b.available)).toEqual(["KUDOS:12"]);
  await again.importEvents(await phone.exportEvents({ since: await again.getVectorClock() }));
  expect(await urls(again)).toEqual([EX, "https://phone.example/"]);
});

it("a snapshot adopted from the second provider keeps what the first provider's log brought in the same recovery", async () => {
  const p1 = await server();
  const p2 = await server();
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  await laptop.addExchange({ exchangeBaseUrl: "https://a.example/" });
  await laptop.addExchange({ exchangeBaseUrl: "https://b.example/" });
  const rec = await laptop.getBackupRecovery();
  const phone = await wallet("phone");
  await phone.loadBackupRecovery({ recovery: { walletRootPriv: rec.walletRootPriv, providers: [] }, strategy: "theirs" });
  await phone.addExchange({ exchangeBaseUrl: "https://phone.example/" });
  await phone.addBackupProvider({ backupProviderBaseUrl: p1.baseUrl, activate: true });
  await phone.runBackupCycle();
  await laptop.addBackupProvider({ backupProviderBaseUrl: p2.baseUrl, activate: true });
  await laptop.runBackupCycle();

  const tablet = await wallet("tablet");
  const r = await tablet.loadBackupRecovery({
    recovery: { walletRootPriv: rec.walletRootPriv, providers: [{ url: p1.baseUrl }, { url: p2.baseUrl }] },
    strategy: "theirs",
  });
  // phone:1 from p1's log, laptop:1..2 from p2's snapshot.
  expect(r.added).toBe(3);
  expect(await tablet.getVectorClock()).toEqual({ laptop: 2, phone: 1 });
  // Before, the refold after adopting walked only committed devices: phone:1 was in the log but not in the projections.
  expect(await urls(tablet)).toEqual(["https://a.example/", "https://b.example/", "https://phone.example/"]);
});

it("a recovery onto a wallet that compacted its own history merges (theirs)", async () => {
  const s = await server();
  const old = await wallet("old-phone", { compactBackupsAbove: 0 });
  await old.addExchange({ exchangeBaseUrl: "https://old.example/" });
  await old.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
  await old.runBackupCycle();
  const recovery = await old.getBackupRecovery();
  const fresh = await wallet("new-phone", { compactBackupsAbove: 0 });
  await fresh.addExchange({ exchangeBaseUrl: "https://new.example/" });
  await fresh.exportBackupEncrypted(); // compacts its own log: base {new-phone:1}
  await fresh.loadBackupRecovery({ recovery, strategy: "theirs" }); // snapshot {old-phone:1}: neither covers the other
  expect(await urls(fresh)).toEqual(["https://new.example/", "https://old.example/"]);
  expect(await fresh.getVectorClock()).toEqual({ "new-phone": 1, "old-phone": 1 });
});

it("two devices that retired each other (each compacted alone) still merge each other's backups", async () => {
  const laptop = await wallet("laptop", { compactBackupsAbove: 0, retireDevicesAfterMs: DAY });
  const phone = await wallet("phone", { compactBackupsAbove: 0, retireDevicesAfterMs: DAY });
  await laptop.addExchange({ exchangeBaseUrl: "https://a.example/" });
  await phone.importEvents(await laptop.exportEvents());
  await phone.addExchange({ exchangeBaseUrl: "https://p.example/" });
  await laptop.importEvents(await phone.exportEvents({ since: await laptop.getVectorClock() }));
  await laptop.addExchange({ exchangeBaseUrl: "https://a2.example/" });
  await phone.addExchange({ exchangeBaseUrl: "https://p2.example/" });
  t += 30 * DAY;
  const laptopFile = await laptop.exportBackupEncrypted(); // compacts to {laptop:2, phone:1}
  const phoneFile = await phone.exportBackupEncrypted(); // compacts to {laptop:1, phone:2}
  const laptopKey = (await laptop.getBackupRecovery()).walletRootPriv;
  const phoneKey = (await phone.getBackupRecovery()).walletRootPriv;

  await phone.importBackupEncrypted(laptopFile, { walletRootPriv: laptopKey });
  await laptop.importBackupEncrypted(phoneFile, { walletRootPriv: phoneKey });
  for (const w of [laptop, phone]) {
    expect(await w.getVectorClock()).toEqual({ laptop: 2, phone: 2 });
    expect(await urls(w)).toEqual(["https://a.example/", "https://a2.example/", "https://p.example/", "https://p2.example/"]);
  }
  const sharedOf = async (w: Wallet) => (await w.dumpProjections()).filter((r) => !LOCAL_TABLES.has(r.key[0] as string));
  expect(await sharedOf(laptop)).toEqual(await sharedOf(phone));
});

it("the sync cycle of two devices that were apart longer than the retirement time settles", async () => {
  const s = await server();
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  await laptop.addBackupProvider({ backupProviderBaseUrl: s.baseUrl, activate: true });
  await laptop.addExchange({ exchangeBaseUrl: "https://a.example/" });
  await laptop.runBackupCycle();
  const phone = await wallet("phone", { compactBackupsAbove: 0 });
  await phone.loadBackupRecovery({ recovery: await laptop.getBackupRecovery(), strategy: "theirs" });
  await phone.addExchange({ exchangeBaseUrl: "https://p.example/" });
  await phone.runBackupCycle();
  await laptop.runBackupCycle();
  expect(await laptop.getVectorClock()).toEqual(await phone.getVectorClock());

  // Apart for 100 days (default retirement: 90); each writes and exports a backup meanwhile.
  t += 100 * DAY;
  await laptop.addExchange({ exchangeBaseUrl: "https://a2.example/" });
  await phone.addExchange({ exchangeBaseUrl: "https://p2.example/" });
  await laptop.exportBackupEncrypted();
  await phone.exportBackupEncrypted();

  await laptop.runBackupCycle();
  await phone.runBackupCycle();
  await laptop.runBackupCycle();
  for (const w of [laptop, phone]) {
    // Before: lastError snapshot-incomparable on every cycle, for good.
    expect((await w.getBackupInfo()).providers[0].lastError).toBeUndefined();
    expect(await w.getVectorClock()).toEqual({ laptop: 2, phone: 2 });
  }
});

it("adopting a snapshot counts the events it stands for and notifies the balance and exchange changes it brings", async () => {
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  await laptop.addExchange({ exchangeBaseUrl: "https://ex.example/" });
  await laptop.recordWithdrawal({ exchangeBaseUrl: "https://ex.example/", coins: [{ coinPub: "C1", denomPubHash: "D1", value: "KUDOS:5" }] });
  const file = await laptop.exportBackupEncrypted(); // everything folded into the snapshot, an empty tail
  const key = (await laptop.getBackupRecovery()).walletRootPriv;

  const tablet = await wallet("tablet");
  await tablet.addExchange({ exchangeBaseUrl: "https://own.example/" });
  const seen: { type: string; [k: string]: unknown }[] = [];
  tablet.addNotificationListener((n) => seen.push(n as never));
  const r = await tablet.importBackupEncrypted(file, { walletRootPriv: key });
  expect(r).toEqual({ added: 2, known: 0 });
  expect((await tablet.getBalances()).balances.map((b) => b.available)).toEqual(["KUDOS:5"]);
  expect(await tablet.getVectorClock()).toEqual({ laptop: 2, tablet: 1 });
  const types = seen.map((n) => n.type);
  expect(types).toContain("balance-change");
  expect(types).toContain("events-imported");
  // The exchange the snapshot brought is reported; the tablet's own, refolded unchanged, is not.
  const transitions = seen.filter((n) => n.type === "exchange-state-transition").map((n) => n.exchangeBaseUrl);
  expect(transitions).toEqual(["https://ex.example/"]);
  // The same backup again: nothing new, nothing notified.
  seen.length = 0;
  expect(await tablet.importBackupEncrypted(file, { walletRootPriv: key })).toEqual({ added: 0, known: 0 });
  expect(seen).toEqual([]);
});

for (const tamper of ["lamport", "url"] as const) {
  it(`a tail refused after its snapshot was adopted (${tamper}) changes nothing`, async () => {
    const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
    const phone = await wallet("phone");
    await laptop.addExchange({ exchangeBaseUrl: "https://ex.example/" });
    await phone.importEvents(await laptop.exportEvents());
    await laptop.importBackupPlain(await phone.exportBackupPlain());
    await laptop.addExchange({ exchangeBaseUrl: "https://tail.example/" });
    const c = (await laptop.exportBackupPlain()) as never as { snapshot: { frontier: unknown }; log: { chains: { lamport: number[] }[] }; strings: string[] };
    expect(c.snapshot.frontier).toEqual({ laptop: 1 });
    if (tamper === "lamport") c.log.chains[0].lamport = [1];
    else c.strings[c.strings.indexOf("https://tail.example/")] = "nota url";

    const tablet = await wallet("tablet");
    await tablet.addExchange({ exchangeBaseUrl: "https://own.example/" });
    const before = JSON.stringify(await tablet.dumpProjections());
    const r = await tablet.handleRequest("importBackupPlain", "1", c);
    expect(r.type).toBe("error");
    expect(JSON.stringify(await tablet.dumpProjections())).toBe(before);
    expect(await urls(tablet)).toEqual(["https://own.example/"]);
    expect(await tablet.getVectorClock()).toEqual({ tablet: 1 });
  });
}

/** Every leaf path of a JSON value. */
function leaves(v: unknown, path: (string | number)[] = [], out: (string | number)[][] = []) {
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...path, i], out));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) leaves((v as Record<string, unknown>)[k], [...path, k], out);
  out.push(path);
  return out;
}

function setAt(root: Record<string | number, unknown>, path: (string | number)[], value: unknown) {
  let o = root;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path[path.length - 1]] = value;
  return root;
}

const REPLACEMENTS: unknown[] = [-1, 0, 1, 2, 3, 1e300, 2 ** 53, 0.5, "x", "", "KUDOS:1", "laptop", "phone", null, [], {}, [0], [[0]], true, "__proto__", "toString", ["str", [0]], ["int", [1]]];

it("a compacted backup with any one value replaced is refused with a specific code and changes nothing, or is merged and stays usable", async () => {
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  const phone = await wallet("phone");
  await laptop.addExchange({ exchangeBaseUrl: "https://ex.example/" });
  await laptop.recordWithdrawal({
    exchangeBaseUrl: "https://ex.example/",
    withdrawalGroupId: "wg1",
    coins: [
      { coinPub: "C1", denomPubHash: "D1", value: "KUDOS:5", coinPriv: "P1" },
      { coinPub: "C2", denomPubHash: "D1", value: "KUDOS:5" },
    ],
  });
  await laptop.recordSpend({ coinPub: "C1", amount: "KUDOS:1", spendId: "s1" });
  await phone.importEvents(await laptop.exportEvents());
  await laptop.importBackupPlain(await phone.exportBackupPlain());
  await phone.recordSpend({ coinPub: "C2", amount: "KUDOS:2", spendId: "s2" });
  await phone.addExchange({ exchangeBaseUrl: "https://ex2.example/" });
  await laptop.importEvents(await phone.exportEvents({ since: await laptop.getVectorClock() }));
  await laptop.recordSpend({ coinPub: "C1", amount: "KUDOS:1", spendId: "s3" });
  const content = (await laptop.exportBackupPlain()) as unknown as Record<string, unknown>;
  expect(content.snapshot).toBeDefined();
  const paths = leaves(content).filter((p) => ["snapshot", "log", "strings", "clocks"].includes(p[0] as string));
  const bad: string[] = [];
  let target = await wallet("tablet");
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: paths.length - 1 }), fc.integer({ min: 0, max: REPLACEMENTS.length - 1 }), async (pi, ri) => {
      const what = `${JSON.stringify(paths[pi])} = ${JSON.stringify(REPLACEMENTS[ri])}`;
      const c = setAt(structuredClone(content), paths[pi], structuredClone(REPLACEMENTS[ri]));
      const before = JSON.stringify(await target.dumpProjections());
      const r = await target.handleRequest("importBackupPlain", "1", c);
      if (r.type === "error") {
        if (r.error.code === "internal-error") bad.push(`${what}: ${r.error.message}`);
        if (JSON.stringify(await target.dumpProjections()) !== before) bad.push(`${what}: state changed on a refusal`);
      } else {
        for (const op of ["listExchanges", "getBalances", "listConflicts", "getTransactions", "exportBackupPlain", "getVectorClock"]) {
          const q = await target.handleRequest(op, "2", {});
          if (q.type === "error" && q.error.code === "internal-error") bad.push(`${what} accepted, then ${op}: ${q.error.message}`);
        }
        target = await wallet(`t${n++}`);
      }
    }),
    { numRuns: RUNS * 20 },
  );
  expect(bad).toEqual([]);
}, 600_000);

const NEX = "https://ex.example/";
it("a tail touching an exchange its snapshot brought: its transition starts from no entry", async () => {
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  const phone = await wallet("phone");
  await laptop.addExchange({ exchangeBaseUrl: NEX }); // laptop:1
  await phone.importEvents(await laptop.exportEvents());
  await laptop.importBackupPlain(await phone.exportBackupPlain()); // laptop:1 now stable
  await laptop.recordWithdrawal({ exchangeBaseUrl: NEX, coins: [{ coinPub: "C1", denomPubHash: "D", value: "KUDOS:5" }] }); // laptop:2, the tail
  const c = (await laptop.exportBackupPlain()) as never as { snapshot: { frontier: unknown } };
  expect(c.snapshot.frontier).toEqual({ laptop: 1 });

  const tablet = await wallet("tablet");
  const seen: { type: string; [k: string]: unknown }[] = [];
  tablet.addNotificationListener((n) => seen.push(n as never));
  await tablet.importBackupPlain(c);
  const tr = seen.filter((n) => n.type === "exchange-state-transition");
  expect(tr).toHaveLength(1);
  // The tablet had no entry before this import.
  expect(tr[0].oldExchangeState).toBeUndefined();
  expect(tr[0].newExchangeState).toMatchObject({ exchangeEntryStatus: "used" });
});

it("a recovery adopting two snapshots notifies the balance and exchange the first one brought", async () => {
  const p1 = await server();
  const p2 = await server();
  const laptop = await wallet("laptop", { compactBackupsAbove: 0 });
  await laptop.addExchange({ exchangeBaseUrl: NEX });
  await laptop.recordWithdrawal({ exchangeBaseUrl: NEX, coins: [{ coinPub: "C1", denomPubHash: "D", value: "KUDOS:5" }] });
  await laptop.addBackupProvider({ backupProviderBaseUrl: p1.baseUrl, activate: true });
  await laptop.runBackupCycle(); // p1: snapshot {laptop:2}
  await laptop.removeBackupProvider({ backupProviderBaseUrl: p1.baseUrl });
  await laptop.addExchange({ exchangeBaseUrl: "https://other.example/" }); // laptop:3
  await laptop.addBackupProvider({ backupProviderBaseUrl: p2.baseUrl, activate: true });
  await laptop.runBackupCycle(); // p2: snapshot {laptop:3}
  const key = (await laptop.getBackupRecovery()).walletRootPriv;

  const tablet = await wallet("tablet");
  const seen: { type: string; [k: string]: unknown }[] = [];
  tablet.addNotificationListener((n) => seen.push(n as never));
  await tablet.loadBackupRecovery({ recovery: { walletRootPriv: key, providers: [{ url: p1.baseUrl }, { url: p2.baseUrl }] }, strategy: "theirs" });
  expect(await tablet.getVectorClock()).toEqual({ laptop: 3 });
  expect((await tablet.getBalances()).balances.map((b) => b.available)).toEqual(["KUDOS:5"]);
  const types = seen.map((n) => `${n.type} ${String(n.currency ?? n.exchangeBaseUrl ?? "")}`);
  expect(types).toContain("balance-change KUDOS");
  expect(types).toContain(`exchange-state-transition ${NEX}`);
  expect(types).toContain("exchange-state-transition https://other.example/");
});

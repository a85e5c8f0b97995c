// `npm run demo`: the engine's main job end to end, on the embedded defaults.
// A test exchange runs on loopback; two devices of one person record exchange
// updates, ToS, withdrawals and spends, merge their logs, exchange encrypted
// backups with a third, sync three devices through a local sync server, and
// reopen.
// Pass a directory to keep the wallets there (default: a temp dir, removed).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decryptBackupFile, openWallet, startSyncServer, type BackupContent, type ExchangeListItem, type Wallet } from "../src/index.ts";
import { startTestExchange } from "../src/testing/index.ts";

const keep = process.argv[2];
const dir = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), "wallet-demo-"));

const line = (s = "") => console.log(s);
const title = (s: string) => line(`\n== ${s}`);
const show = (x: ExchangeListItem) =>
  line(
    `   ${x.exchangeBaseUrl}  entry=${x.exchangeEntryStatus}  update=${x.exchangeUpdateStatus}  tos=${x.tosStatus}` +
      (x.lastUpdateErrorInfo ? `  error=${x.lastUpdateErrorInfo.code}` : ""),
  );
const balances = async (name: string, w: Wallet) => {
  const { balances } = await w.getBalances();
  line(`   ${name}: ${balances.map((b) => `${b.available} available, ${b.pendingIncoming} pending`).join("; ") || "(none)"}`);
};

const exchange = await startTestExchange({ currency: "KUDOS" });
const url = exchange.baseUrl;
let laptop = await openWallet({ path: join(dir, "laptop"), deviceId: "laptop" });
const phone = await openWallet({ path: join(dir, "phone"), deviceId: "phone" });
try {
  title(`Exchange lifecycle (DD 48) against the test exchange at ${url}`);
  await laptop.addExchange({ exchangeBaseUrl: url });
  line(" added:");
  show(await laptop.getExchangeEntryByUrl({ exchangeBaseUrl: url }));
  line(" updated (/keys and /terms over HTTP):");
  show(await laptop.updateExchange({ exchangeBaseUrl: url }));
  const tos = await laptop.getExchangeTos({ exchangeBaseUrl: url, acceptLanguage: "en" });
  line(` ToS ${tos.currentEtag} in ${tos.tosAvailableLanguages.join(", ")}: "${tos.content.slice(0, 50).trim()}…"`);
  await laptop.setExchangeTosAccepted({ exchangeBaseUrl: url, etag: tos.currentEtag });
  line(" ToS accepted:");
  show(await laptop.getExchangeEntryByUrl({ exchangeBaseUrl: url }));

  title("Coins: withdraw, spend, balances");
  await laptop.recordWithdrawal({
    exchangeBaseUrl: url,
    amount: "KUDOS:12",
    coins: [
      { coinPub: "COIN-A", denomPubHash: "DENOM-5", value: "KUDOS:5" },
      { coinPub: "COIN-B", denomPubHash: "DENOM-5", value: "KUDOS:5" },
    ],
  });
  await laptop.recordSpend({ coinPub: "COIN-A", amount: "KUDOS:1.5", spendId: "coffee" });
  show(await laptop.getExchangeEntryByUrl({ exchangeBaseUrl: url }));
  await balances("laptop", laptop);
  line(`   resources: ${JSON.stringify(await laptop.getExchangeResources({ exchangeBaseUrl: url }))}`);

  title("A fault: the exchange advertises a new master key");
  exchange.rotateMasterKey();
  show(await laptop.updateExchange({ exchangeBaseUrl: url }));
  exchange.reset();
  line(" fixed on the exchange side, next update:");
  show(await laptop.updateExchange({ exchangeBaseUrl: url }));

  title("Second device: merge logs with vector clocks");
  const r1 = await phone.importEvents(await laptop.exportEvents());
  line(`   phone imported ${r1.added} events; clock ${JSON.stringify(await phone.getVectorClock())}`);
  await balances("phone", phone);
  line(" both devices spend COIN-B while offline (a double spend):");
  await laptop.recordSpend({ coinPub: "COIN-B", amount: "KUDOS:4", spendId: "books" });
  await phone.recordSpend({ coinPub: "COIN-B", amount: "KUDOS:3", spendId: "lunch" });
  await phone.importEvents(await laptop.exportEvents({ since: await phone.getVectorClock() }));
  await laptop.importEvents(await phone.exportEvents({ since: await laptop.getVectorClock() }));
  line(`   conflicts: ${JSON.stringify((await laptop.listConflicts()).conflicts)}`);
  await balances("laptop", laptop);
  await balances("phone", phone);
  const same =
    JSON.stringify(await laptop.getBalances()) === JSON.stringify(await phone.getBalances()) &&
    JSON.stringify(await laptop.listExchanges()) === JSON.stringify(await phone.listExchanges());
  line(`   converged: ${same}`);

  title("Encrypted backup (GNU Taler's TLRWBK01): export on the laptop, import on a new tablet");
  const tablet = await openWallet({ path: join(dir, "tablet"), deviceId: "tablet" });
  try {
    await tablet.addExchange({ exchangeBaseUrl: "https://tablet-only.example/" });
    const file = await laptop.exportBackupEncrypted();
    // The recovery secret is what a person writes down: the root key (and where backups are kept).
    const recovery = await laptop.getBackupRecovery();
    const plain = decryptBackupFile(file, recovery.walletRootPriv) as unknown as BackupContent;
    line(`   laptop's backup: ${file.length} bytes, ${plain.schema_id} v${plain.schema_version}, clocks ${JSON.stringify(plain.clocks)}`);
    line(`   its view: ${plain.exchanges.length} exchange(s), ${plain.exchanges.flatMap((e) => e.denominations.flatMap((d) => d.coins)).length} live coin(s), ${plain.tombstones.length} tombstone(s)`);
    const r2 = await tablet.importBackupEncrypted(file, { walletRootPriv: recovery.walletRootPriv });
    line(`   tablet imported ${r2.added} events (a merge: it keeps its own exchange too)`);
    await laptop.importBackupEncrypted(await tablet.exportBackupEncrypted(), { walletRootPriv: (await tablet.getBackupRecovery()).walletRootPriv });
    line(`   laptop imported the tablet's backup back`);
    await balances("laptop", laptop);
    await balances("tablet", tablet);
    const converged =
      JSON.stringify(await laptop.getVectorClock()) === JSON.stringify(await tablet.getVectorClock()) &&
      JSON.stringify(await laptop.getBalances()) === JSON.stringify(await tablet.getBalances()) &&
      JSON.stringify(await laptop.listConflicts()) === JSON.stringify(await tablet.listConflicts());
    line(`   converged: ${converged}`);
    const again = await tablet.importBackupEncrypted(file, { walletRootPriv: recovery.walletRootPriv });
    line(`   importing the same backup again: ${again.added} added, ${again.known} known`);
    try {
      const tampered = Uint8Array.from(file);
      tampered[tampered.length - 1] ^= 1;
      await tablet.importBackupEncrypted(tampered, { walletRootPriv: recovery.walletRootPriv });
    } catch (e) {
      line(`   a tampered file is refused: ${(e as { code?: string }).code}`);
    }
  } finally {
    await tablet.close();
  }

  title("Sync: three devices of one person through a sync server on loopback (GNU Taler's sync protocol)");
  const sync = await startSyncServer({ port: 0, host: "127.0.0.1", path: join(dir, "sync-server") });
  const desktop = await openWallet({ path: join(dir, "desktop"), deviceId: "desktop" });
  try {
    await laptop.addBackupProvider({ backupProviderBaseUrl: sync.baseUrl, activate: true });
    const terms = (await laptop.getBackupInfo()).providers[0].terms;
    line(`   laptop added ${sync.baseUrl} (sync ${terms?.version}, ${terms?.storageLimitInMegabytes} MB, fee ${terms?.annualFee})`);
    const cycle = async (name: string, w: Wallet) => {
      const p = (await w.runBackupCycle()).providers[0];
      line(`   ${name.padEnd(8)} ${p.outcome.padEnd(9)} uploads=${p.uploads} merged=${p.merged}${p.error ? ` error=${p.error.code}` : ""}`);
      return p.outcome === "unchanged" && p.merged === 0;
    };
    await cycle("laptop", laptop);
    // The phone and a new desktop join with the laptop's recovery secret: its root key, so the same account.
    const recovery = await laptop.getBackupRecovery();
    for (const [name, w] of [["phone", phone], ["desktop", desktop]] as const) {
      const r = await w.loadBackupRecovery({ recovery, strategy: "theirs" });
      line(`   ${name} loaded the recovery (${r.strategy}): ${r.added} events merged from the provider, its own kept`);
    }
    line(" each device records something on its own:");
    await laptop.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: "COIN-D", denomPubHash: "DENOM-2", value: "KUDOS:2" }] });
    await phone.recordSpend({ coinPub: "COIN-A", amount: "KUDOS:0.5", spendId: "bus" });
    await desktop.addExchange({ exchangeBaseUrl: "https://desktop-only.example/" });
    line(" backup cycles, round by round, until every device is quiet (409s merge and retry):");
    for (let round = 1; round <= 5; round++) {
      line(`  round ${round}`);
      const quiet = [await cycle("laptop", laptop), await cycle("phone", phone), await cycle("desktop", desktop)];
      if (quiet.every(Boolean)) break;
    }
    for (const [name, w] of [["laptop", laptop], ["phone", phone], ["desktop", desktop]] as const) {
      line(`   ${name.padEnd(8)} clock ${JSON.stringify(await w.getVectorClock())}`);
    }
    const views = await Promise.all([laptop, phone, desktop].map(async (w) => JSON.stringify([await w.getVectorClock(), await w.getBalances(), await w.listExchanges(), await w.listConflicts()])));
    line(`   converged: ${views.every((v) => v === views[0])}`);
    await balances("desktop", desktop);
  } finally {
    await desktop.close();
    await sync.close();
  }

  title("Reopen: state comes from the persisted projections, not a replay");
  const before = JSON.stringify(await laptop.dumpProjections());
  await laptop.close();
  laptop = await openWallet({ path: join(dir, "laptop") });
  line(`   device ${laptop.deviceId}, root key ${laptop.walletRootPub.slice(0, 16)}…`);
  line(`   projections identical after reopen: ${before === JSON.stringify(await laptop.dumpProjections())}`);
  await laptop.rebuild();
  line(`   identical to a rebuild from the raw log: ${before === JSON.stringify(await laptop.dumpProjections())}`);

  title("The shared log of the laptop (device-local events never leave)");
  for (const e of await laptop.exportEvents()) {
    line(`   ${e.device}:${e.seq}  lamport=${e.lamport}  deps=${JSON.stringify(e.deps)}  ${e.type}`);
  }
} finally {
  await laptop.close();
  await phone.close();
  await exchange.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
line(keep ? `\nwallets kept in ${dir}` : "\ndone");

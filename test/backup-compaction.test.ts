// Compaction in backups: events at or below the stable frontier travel as a
// snapshot, and importing snapshot + tail merges exactly as the full log
// would, into a new device, into a peer, and into a device that was retired
// and comes back after the frontier moved past it; coin secrets folded into
// a snapshot are not lost; the blob shrinks.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decryptBackupFile, openWallet, type OpenWalletOptions, type Wallet } from "../src/index.ts";
import { deviceName, historyArb, sharedRecords, Simulation, type History } from "../src/testing/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 12);
const NOW = Date.UTC(2025, 0, 15);
const DAY = 86_400_000;

/** Plays `h`, then reopens copies of the devices' directories with `opts` (compaction at every export). */
async function withCopies(h: History, opts: Partial<OpenWalletOptions>, body: (open: (i: number, extra?: Partial<OpenWalletOptions>) => Promise<Wallet>, root: string) => Promise<void>) {
  const root = mkdtempSync(join(tmpdir(), "backup-compaction-"));
  const opened: Wallet[] = [];
  try {
    const sim = await Simulation.play(h, { dir: join(root, "sim") });
    await sim.close();
    let n = 0;
    const open = async (i: number, extra: Partial<OpenWalletOptions> = {}) => {
      const path = join(root, `copy-${n++}`);
      cpSync(join(root, "sim", deviceName(i)), path, { recursive: true });
      const w = await openWallet({ path, now: () => NOW, compactBackupsAbove: 0, ...opts, ...extra });
      opened.push(w);
      return w;
    };
    await body(open, root);
  } finally {
    for (const w of opened) await w.close().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
}

async function fresh(root: string, name: string, opts: Partial<OpenWalletOptions> = {}): Promise<Wallet> {
  return openWallet({ path: join(root, name), deviceId: name, now: () => NOW, compactBackupsAbove: 0, ...opts });
}

const histories = historyArb({ devices: 3, minSteps: 8, maxSteps: 25 });

describe("compacted backups", () => {
  it(
    "snapshot and tail merge as the full log would: into a new device, and into a peer",
    async () => {
      let compacted = 0;
      await fc.assert(
        fc.asyncProperty(histories, async (h) => {
          await withCopies(h, {}, async (open, root) => {
            const a = await open(0);
            const b = await open(1);
            const c = await open(2);
            // Everyone hears from everyone, by events and by backups: the stable frontier moves up.
            for (const [x, y] of [[a, b], [b, c], [c, a], [a, b], [b, c]] as const) await y.importEvents(await x.exportEvents({ since: await y.getVectorClock() }));
            for (const x of [b, c]) await a.importBackupEncrypted(await x.exportBackupEncrypted(), { walletRootPriv: (await x.getBackupRecovery()).walletRootPriv });
            const aRoot = (await a.getBackupRecovery()).walletRootPriv;
            const file = await a.exportBackupEncrypted();
            const content = decryptBackupFile(file, aRoot) as { snapshot?: { frontier: Record<string, number> } };
            if (content.snapshot) compacted++;

            // A new device: the snapshot is its base, the tail on top.
            const n = await fresh(root, "newdev");
            await n.importBackupEncrypted(file, { walletRootPriv: aRoot });
            expect(await sharedRecords(n)).toEqual(await sharedRecords(a));
            expect(await n.getBalances()).toEqual(await a.getBalances());
            expect(await n.listConflicts()).toEqual(await a.listConflicts());

            // A peer that holds everything below the frontier takes only the tail.
            const peer = await open(1);
            const reference = await open(1);
            await peer.importBackupEncrypted(file, { walletRootPriv: aRoot });
            await reference.importEvents(await a.exportEvents());
            expect(await sharedRecords(peer)).toEqual(await sharedRecords(reference));
            // Idempotent.
            expect((await peer.importBackupEncrypted(file, { walletRootPriv: aRoot })).added).toBe(0);
            expect(await sharedRecords(peer)).toEqual(await sharedRecords(reference));
          });
        }),
        { numRuns: RUNS },
      );
      // The law was about compaction: it happened.
      expect(compacted).toBeGreaterThan(0);
    },
    600_000,
  );

  it(
    "a retired device that comes back after the frontier moved adopts the snapshot and ends where the full log would take it",
    async () => {
      let adopted = 0;
      await fc.assert(
        fc.asyncProperty(histories, async (h) => {
          await withCopies(h, { retireDevicesAfterMs: DAY }, async (open) => {
            // Device 2 went quiet long ago: devices 0 and 1 retire it and compact past it.
            const later = { now: () => NOW + 30 * DAY };
            const a = await open(0, later);
            const b = await open(1, later);
            await b.importEvents(await a.exportEvents({ since: await b.getVectorClock() }));
            await a.importEvents(await b.exportEvents({ since: await a.getVectorClock() }));
            const aRoot = (await a.getBackupRecovery()).walletRootPriv;
            const file = await a.exportBackupEncrypted();

            const back = await open(2);
            const reference = await open(2);
            const before = await back.getVectorClock();
            const content = decryptBackupFile(file, aRoot) as { snapshot?: { frontier: Record<string, number> } };
            const f = content.snapshot?.frontier ?? {};
            if (Object.keys(f).some((d) => (before[d] ?? 0) < f[d])) adopted++;
            await back.importBackupEncrypted(file, { walletRootPriv: aRoot });
            await reference.importEvents(await a.exportEvents({ since: await reference.getVectorClock() }));
            expect(await sharedRecords(back)).toEqual(await sharedRecords(reference));
            // And it goes on merging with the others, events above the frontier both ways.
            await a.importEvents(await back.exportEvents({ since: f }));
            await back.importEvents(await a.exportEvents({ since: await back.getVectorClock() }));
            expect(await sharedRecords(back)).toEqual(await sharedRecords(a));
          });
        }),
        { numRuns: RUNS },
      );
      expect(adopted).toBeGreaterThan(0);
    },
    600_000,
  );

  it("a device named like an Object.prototype member (toString) whose events are all in the tail restores like any other", async () => {
    const root = mkdtempSync(join(tmpdir(), "backup-compaction-"));
    try {
      const laptop = await fresh(root, "laptop");
      await laptop.addExchange({ exchangeBaseUrl: "https://ex.example/" });
      await laptop.addExchange({ exchangeBaseUrl: "https://ex2.example/" });
      // Two devices that saw the laptop's events but not each other's: the frontier stops at the laptop's.
      const odd = await fresh(root, "toString");
      const phone = await fresh(root, "phone");
      for (const w of [odd, phone]) await w.importEvents(await laptop.exportEvents());
      await odd.addExchange({ exchangeBaseUrl: "https://odd.example/" });
      await phone.addExchange({ exchangeBaseUrl: "https://phone.example/" });
      for (const w of [odd, phone]) await laptop.importEvents(await w.exportEvents());
      const aRoot = (await laptop.getBackupRecovery()).walletRootPriv;
      const file = await laptop.exportBackupEncrypted();
      const content = decryptBackupFile(file, aRoot) as { snapshot?: { frontier: Record<string, number> } };
      expect(content.snapshot?.frontier).toEqual({ laptop: 2 });

      const restored = await fresh(root, "tablet");
      await restored.importBackupEncrypted(file, { walletRootPriv: aRoot });
      expect(await restored.getVectorClock()).toEqual(await laptop.getVectorClock());
      for (const w of [laptop, odd, phone, restored]) await w.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("coins whose creating events were folded into the snapshot keep their facts and secrets on the device restored from it", async () => {
    const root = mkdtempSync(join(tmpdir(), "backup-compaction-"));
    try {
      const a = await fresh(root, "laptop");
      await a.addExchange({ exchangeBaseUrl: "https://ex.example/" });
      await a.recordWithdrawal({
        exchangeBaseUrl: "https://ex.example/",
        withdrawalGroupId: "wg1",
        coins: [{ coinPub: "C1", denomPubHash: "D1", value: "KUDOS:5", coinPriv: "PRIV1", blindingKey: "BK1", denomSig: "SIG1" }],
      });
      await a.recordSpend({ coinPub: "C1", amount: "KUDOS:1", spendId: "s1" });
      const aRoot = (await a.getBackupRecovery()).walletRootPriv;
      const file = await a.exportBackupEncrypted();
      const content = decryptBackupFile(file, aRoot) as { snapshot?: unknown; log: { chains: unknown[] } };
      expect(content.snapshot).toBeDefined();
      expect(content.log.chains).toEqual([]);

      const b = await fresh(root, "tablet");
      await b.importBackupEncrypted(file, { walletRootPriv: aRoot });
      expect(await b.getCoin({ coinPub: "C1" })).toMatchObject({ denomPubHash: "D1", remaining: "KUDOS:4", origin: { kind: "withdrawal", id: "wg1" }, spendIds: ["s1"] });
      await b.recordSpend({ coinPub: "C1", amount: "KUDOS:4", spendId: "s2" });
      expect(await b.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:0", pendingIncoming: "KUDOS:0" }] });
      // Its own backup carries the coin's facts in its snapshot (the base), but the
      // Taler-shaped view no longer lists a coin spent to zero.
      const again = decryptBackupFile(await b.exportBackupEncrypted(), (await b.getBackupRecovery()).walletRootPriv) as {
        exchanges: unknown[];
        snapshot?: unknown;
      };
      expect(again.snapshot).toBeDefined();
      expect(JSON.stringify(again)).toContain("PRIV1");
      expect(JSON.stringify(again.exchanges)).not.toContain("PRIV1");
      await a.close();
      await b.close();

      const c = await fresh(root, "phone");
      const d = await fresh(root, "watch");
      await c.addExchange({ exchangeBaseUrl: "https://ex.example/" });
      await c.recordWithdrawal({ exchangeBaseUrl: "https://ex.example/", coins: [{ coinPub: "C2", denomPubHash: "D2", value: "KUDOS:2", coinPriv: "PRIV2" }] });
      const cRoot = (await c.getBackupRecovery()).walletRootPriv;
      await d.importBackupEncrypted(await c.exportBackupEncrypted(), { walletRootPriv: cRoot });
      const view = decryptBackupFile(await d.exportBackupEncrypted(), (await d.getBackupRecovery()).walletRootPriv);
      expect(JSON.stringify(view)).toContain("PRIV2");
      await c.close();
      await d.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

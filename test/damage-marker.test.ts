// A bug found by review (stop 25), as it was: the WALLET marker names the device whose wallet lives in the directory. openWallet
// never compares it with the device id in wallet.mdb, while verifyStore does: a directory whose
// wallet.mdb was replaced by another wallet's (or whose marker's device id was damaged) opens
// silently as that other wallet, and verifyStore calls the same directory store-corrupt.
import { copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "lmdb";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyStore } from "../src/engine/verify-store.ts";
import { openWallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const dirs: { path: string; cleanup(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

async function walletOf(deviceId: string, coins: number): Promise<string> {
  const d = tempDir();
  dirs.push(d);
  const w = await openWallet({ path: d.path, deviceId });
  await w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
  await w.recordWithdrawal({
    exchangeBaseUrl: "https://ex.example/",
    withdrawalGroupId: `wg-${deviceId}`,
    coins: Array.from({ length: coins }, (_, i) => ({ coinPub: `${deviceId}-${i}`, denomPubHash: "d", value: "KUDOS:4" })),
  });
  await w.close();
  return d.path;
}

const codeOf = (p: Promise<{ close(): Promise<void> }>) =>
  p.then(
    async (w) => {
      await w.close();
      return "opened";
    },
    (e: { code?: string }) => e.code ?? "raw",
  );

describe("a wallet.mdb that is not the one the WALLET marker names", () => {
  it("another wallet's wallet.mdb under this marker is refused at open, as verifyStore reports it", async () => {
    const a = await walletOf("devA", 1);
    const b = await walletOf("devB", 5);
    copyFileSync(join(b, "wallet.mdb"), join(a, "wallet.mdb"));
    rmSync(join(a, "projections.mdb"));
    expect(JSON.parse(readFileSync(join(a, "WALLET"), "utf8")).deviceId).toBe("devA");
    expect(await verifyStore(a)).toMatchObject({ ok: false, code: "store-corrupt" });
    // Actual: opens as devB with devB's KUDOS:20.
    expect(await codeOf(openWallet({ path: a }))).toBe("store-corrupt");
  });

  it("a marker whose device id was damaged is refused at open, as verifyStore reports it", async () => {
    const a = await walletOf("devA", 1);
    const marker = join(a, "WALLET");
    const text = readFileSync(marker, "utf8");
    writeFileSync(marker, text.replace("devA", "devQ"));
    expect(await verifyStore(a)).toMatchObject({ ok: false, code: "store-corrupt" });
    expect(await codeOf(openWallet({ path: a }))).toBe("store-corrupt");
  });

  it("a wallet.mdb re-created empty by LMDB beside the marker is store-corrupt, not a new wallet with a new device id", async () => {
    const a = await walletOf("devA", 1);
    rmSync(join(a, "wallet.mdb"));
    rmSync(join(a, "wallet.mdb-lock"));
    // Any LMDB opener re-creates the file: two meta pages, no tree (8 KiB, not 0 bytes).
    const env = open({ path: join(a, "wallet.mdb") });
    await env.close();
    expect(statSync(join(a, "wallet.mdb")).size).toBeGreaterThan(0);
    // Actual: opens as a new wallet with a fresh random device id; the marker keeps naming devA.
    expect(await codeOf(openWallet({ path: a }))).toBe("store-corrupt");
  });
});

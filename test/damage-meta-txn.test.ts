// A bug found by review (stop 25), as it was: checkDataFile accepts any pair of meta-page transaction ids whose lower one is 0.
// Zeroing the newer meta page's transaction id (one byte while it is below 256: a zeroed byte is
// ordinary damage) makes LMDB serve the older meta page, the state one commit back. openWallet
// accepts it without a word: the last commit (here a spend) is gone, the coin is whole again.
import { openSync, readSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet } from "../src/wallet.ts";
import { verifyStore } from "../src/engine/verify-store.ts";
import { tempDir } from "./support/temp-wallet.ts";

const dirs: { path: string; cleanup(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

/** Both meta pages' (offset of the txn id, txn id), found the way checkDataFile finds them. */
function metaTxns(file: string): { at: number; txn: bigint }[] {
  const fd = openSync(file, "r+");
  try {
    const read = (pos: number) => {
      const b = Buffer.alloc(160);
      readSync(fd, b, 0, 160, pos);
      return b;
    };
    const base = [16, 24].find((o) => read(0).readUInt32LE(o) === 0xbeefc0de)!;
    const ps = read(0).readUInt32LE(base + 24);
    return [0, ps].map((pos) => ({ at: pos + base + 128, txn: read(pos).readBigUInt64LE(base + 128) }));
  } finally {
    closeSync(fd);
  }
}

/**
 * A wallet of one withdrawal and one spend (KUDOS:1 left), closed, whose newer meta page's
 * transaction id then had one byte overwritten with 0 (while it is below 256).
 */
async function zeroedNewerTxn(): Promise<string> {
  const d = tempDir();
  dirs.push(d);
  const w = await openWallet({ path: d.path });
  await w.addExchange({ exchangeBaseUrl: "https://ex.example/" });
  await w.recordWithdrawal({ exchangeBaseUrl: "https://ex.example/", withdrawalGroupId: "g", coins: [{ coinPub: "c", denomPubHash: "d", value: "KUDOS:4" }] });
  await w.recordSpend({ coinPub: "c", amount: "KUDOS:3", spendId: "s" });
  expect((await w.getBalances()).balances[0]).toMatchObject({ available: "KUDOS:1" });
  await w.close();

  const file = join(d.path, "wallet.mdb");
  const metas = metaTxns(file);
  const newer = metas[0].txn > metas[1].txn ? metas[0] : metas[1];
  expect(newer.txn < 256n).toBe(true);
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.from([0]), 0, 1, newer.at);
  closeSync(fd);
  return d.path;
}

describe("the newer meta page's transaction id zeroed", () => {
  it("is refused at open (store-corrupt), not served as the state one commit back", async () => {
    const path = await zeroedNewerTxn();
    const seen = await openWallet({ path }).then(
      async (again) => {
        const balances = (await again.getBalances()).balances;
        await again.close();
        return balances[0]?.available;
      },
      (e: { code?: string }) => e.code,
    );
    // Before the fix: "KUDOS:4", the spend silently gone.
    expect(seen).toBe("store-corrupt");
  });

  it("is still reported by verifyStore after the wallet was opened once", async () => {
    const path = await zeroedNewerTxn();
    // Before any open, verifyStore notices (the cache is ahead of the log it now sees) ...
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
    // ... and an open, refused, does not refold the cache from the rolled-back log and hide it.
    await (await openWallet({ path }).catch(() => undefined))?.close();
    expect(await verifyStore(path)).toMatchObject({ ok: false, code: "store-corrupt" });
  });
});

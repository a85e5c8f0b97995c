// Regression (found by the 1M benchmark: a chunked append peaked at 10.6 GiB):
// a prefix scan that stopped early left lmdb's range open, its read snapshot
// pinned every page freed after it, and the file grew with every commit.
// A wallet written one request at a time must stay about as large as the same
// events written in one transaction.
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempWallet } from "./support/temp-wallet.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function wallet(deviceId: string) {
  const t = await tempWallet({ deviceId });
  cleanups.push(t.cleanup);
  return t;
}

const fileSize = (path: string) => statSync(join(path, "wallet.mdb")).size;

describe("space on disk", () => {
  it("many small transactions reuse freed pages: the file stays within 2× of one written in a single import", async () => {
    const many = await wallet("many");
    await many.wallet.addExchange({ exchangeBaseUrl: "https://ex.test/" });
    for (let i = 0; i < 120; i++) {
      // Random-looking coin keys spread the writes over the tree, as real coin keys do.
      const coins = Array.from({ length: 40 }, (_, k) => ({ coinPub: `${((i * 40 + k) * 2654435761) % 4294967296}-${i}-${k}`, denomPubHash: "d", value: "KUDOS:1" }));
      await many.wallet.recordWithdrawal({ exchangeBaseUrl: "https://ex.test/", coins });
      await many.wallet.recordSpend({ coinPub: coins[0].coinPub, amount: "KUDOS:0.5" });
    }
    const once = await wallet("once");
    expect((await once.wallet.importEvents(await many.wallet.exportEvents())).added).toBe(241);
    const [a, b] = [fileSize(many.path), fileSize(once.path)];
    expect(a, `written in 241 transactions: ${a} B; in one: ${b} B`).toBeLessThan(2 * b);
  });
});

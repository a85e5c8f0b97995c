// lmdb's key encoding (ordered-binary writeKey) only loses a byte 0x01-0x04 or a lone surrogate in a
// key part of 64+ UTF-16 units: below that it escapes bytes 0-4 ([4, c]) and writes a lone surrogate
// as 3 bytes, and readKey undoes both. The first cut of the key-safety check (336ee17) refused them at
// any length, so logs, backups and peers' exports holding such a short id no longer imported. Short
// ids of that kind are accepted again (NUL stays refused: keyId joins key parts with it). Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const NOW = Date.UTC(2025, 0, 15);
const opened: { wallet: Wallet; dir: { cleanup(): void } }[] = [];
afterEach(async () => {
  for (const { wallet, dir } of opened.splice(0)) {
    await wallet.close().catch(() => {});
    dir.cleanup();
  }
});

async function open(deviceId: string, path?: string) {
  const dir = path ? { path, cleanup() {} } : tempDir();
  const wallet = await openWallet({ path: dir.path, deviceId, now: () => NOW });
  opened.push({ wallet, dir });
  return { wallet, path: dir.path };
}

describe("short ids that an older engine accepted", () => {
  it.each([
    ["a control byte", "gid\\u0001"],
    ["a lone surrogate", "gid\\ud800"],
  ])("a peer's withdrawal whose group id holds %s imports, survives a reopen, and purges", async (_, escaped) => {
    const source = await open("src");
    await source.wallet.addExchange({ exchangeBaseUrl: EX });
    // The last event of its device: rewriting it breaks no later event's prev hash.
    await source.wallet.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "gid-1", amount: "KUDOS:5", coins: [] });
    const log = JSON.parse(JSON.stringify(await source.wallet.exportEvents()).replaceAll('"gid-1"', `"${escaped}"`));

    const target = await open("other");
    expect(await target.wallet.importEvents(log)).toMatchObject({ added: log.length });
    await target.wallet.close();
    const again = await open("other", target.path);
    expect((await again.wallet.getBalances()).balances).toEqual([{ currency: "KUDOS", available: "KUDOS:0", pendingIncoming: "KUDOS:5" }]);
    await again.wallet.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    expect((await again.wallet.listExchanges()).exchanges).toEqual([]);
  });
});

// Ids become parts of LMDB keys (["wg", id], ["wgx", url, id], ["coin", pub] …).
// lmdb's key encoding (ordered-binary) writes a string part of 64 or more UTF-16
// units as raw UTF-8: a lone surrogate becomes U+FFFD, so two different ids are
// one key, and a byte 0x00–0x04 inside the part is read back as a separator or
// an escape, so a range scan returns a key that was never written. The request
// parsers used to accept such ids, which broke the wallet once its records were
// checkpointed to LMDB; requests, imported events and snapshots now refuse them
// (isKeySafeText). Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { WalletError } from "../src/errors.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const NOW = Date.UTC(2025, 0, 15);

const opened: { wallet: Wallet; dir: { cleanup(): void } }[] = [];
afterEach(async () => {
  for (const { wallet, dir } of opened.splice(0)) {
    await wallet.close();
    dir.cleanup();
  }
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${String(e)}`;
  }
  return undefined;
}

/** A wallet with one exchange, and a way to close and reopen it (a checkpoint writes its records to LMDB). */
async function walletWithExchange() {
  const dir = tempDir();
  let wallet = await openWallet({ path: dir.path, deviceId: "dev", now: () => NOW });
  const entry = { wallet, dir };
  opened.push(entry);
  await wallet.addExchange({ exchangeBaseUrl: EX });
  return {
    get wallet() {
      return wallet;
    },
    async reopen() {
      await wallet.close();
      wallet = await openWallet({ path: dir.path, deviceId: "dev", now: () => NOW });
      entry.wallet = wallet;
      return wallet;
    },
  };
}

describe("ids that lmdb's key encoding cannot round-trip", () => {
  it("a long withdrawal group id with a NUL is refused, or the exchange can still be purged after a reopen", async () => {
    const h = await walletWithExchange();
    const gid = "g".repeat(70) + "\u0000x";
    const before = await h.wallet.exportEvents();
    const refused = await codeOf(h.wallet.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: gid, amount: "KUDOS:5", coins: [] }));
    if (refused !== undefined) {
      expect(refused).toBe("request-invalid");
      expect(await h.wallet.exportEvents()).toEqual(before);
      return;
    }
    const w = await h.reopen();
    // Before the fix: the purge's range over ["wgx", url] reads the key back as ["wgx", url, "ggg…", "x"],
    // finds no group "ggg…" and dies on a TypeError inside the write transaction (reported as
    // store-failed, "the wallet store could not write: Cannot read properties of undefined"):
    // the exchange can never be purged.
    expect(await codeOf(w.deleteExchange({ exchangeBaseUrl: EX, purge: true }))).toBeUndefined();
    expect((await w.listExchanges()).exchanges).toEqual([]);
  });

  it("two long coin pubs that differ only in a lone surrogate are refused, or stay two coins after a reopen", async () => {
    const h = await walletWithExchange();
    const a = "c".repeat(64) + "\uD800";
    const b = "c".repeat(64) + "\uD801";
    const before = await h.wallet.exportEvents();
    const refused = await codeOf(
      h.wallet.recordWithdrawal({
        exchangeBaseUrl: EX,
        coins: [
          { coinPub: a, denomPubHash: "denom-a", value: "KUDOS:1" },
          { coinPub: b, denomPubHash: "denom-b", value: "KUDOS:2" },
        ],
      }),
    );
    if (refused !== undefined) {
      expect(refused).toBe("request-invalid");
      expect(await h.wallet.exportEvents()).toEqual(before);
      return;
    }
    const w = await h.reopen();
    // Before the fix both records went to one LMDB key: one coin's record is read under the other's pub,
    // and getCoin of that one fails (store-corrupt) while the balance still counts both.
    const ca = await w.getCoin({ coinPub: a });
    const cb = await w.getCoin({ coinPub: b });
    expect([ca.coinPub, ca.denomPubHash, ca.value]).toEqual([a, "denom-a", "KUDOS:1"]);
    expect([cb.coinPub, cb.denomPubHash, cb.value]).toEqual([b, "denom-b", "KUDOS:2"]);
  });

  it("an imported event whose id holds a NUL is refused as event-invalid, and nothing is added", async () => {
    const source = await walletWithExchange();
    const pub = "p".repeat(70);
    await source.wallet.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: pub, denomPubHash: "denom-a", value: "KUDOS:1" }] });
    const log = JSON.parse(JSON.stringify(await source.wallet.exportEvents()).replaceAll(pub, pub + "\\u0000x"));
    const dir = tempDir();
    const target = await openWallet({ path: dir.path, deviceId: "other", now: () => NOW });
    opened.push({ wallet: target, dir });
    let error: unknown;
    try {
      await target.importEvents(log);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WalletError);
    expect((error as WalletError).code).toBe("event-invalid");
    expect((error as WalletError).message).toMatch(/0x00-0x04/);
    expect(await target.exportEvents()).toEqual([]);
  });
});

// exportEvents with a `since` or a `limit` stops each device's log cursor before its end. The cursors
// were left open, and lmdb-js keeps an open cursor's read transaction (a reader slot of the
// environment) alive past later commits: a wallet that exported between writes, as a sync loop
// does, failed with MDB_READERS_FULL after about 126 rounds. The cursors are now closed.
import { afterEach, describe, expect, it } from "vitest";
import { asWalletError } from "../src/engine/engine.ts";
import { walletScope } from "./support/temp-wallet.ts";

const scope = walletScope({ now: () => Date.UTC(2025, 0, 15) });
afterEach(() => scope.cleanup());

describe("exporting between writes", () => {
  it("holds no reader slot after it returns: 400 rounds of write, paged export and import", async () => {
    const a = await scope.open("dev-a");
    const b = await scope.open("dev-b");
    for (let i = 0; i < 400; i++) {
      await a.addExchange({ exchangeBaseUrl: `https://ex${i}.example/` });
      // A sync loop's page: what b lacks, at most one event (the device cursor stops where it was).
      const page = await a.exportEvents({ since: await b.getVectorClock(), limit: 1 });
      expect(page).toHaveLength(1);
      await b.importEvents(page);
      // and an export of everything, which stops at the head without reading past it
      expect(await b.exportEvents()).toHaveLength(i + 1);
    }
    expect((await b.listExchanges()).exchanges).toHaveLength(400);
  });
});

describe("an lmdb condition without a class of its own", () => {
  it("is store-failed, not internal-error (a bug of the engine)", () => {
    const e = asWalletError(new Error("MDB_READERS_FULL: Environment maxreaders limit reached"));
    expect(e.code).toBe("store-failed");
    expect(e.message).toMatch(/MDB_READERS_FULL/);
    expect(asWalletError(new TypeError("x is undefined")).code).toBe("internal-error");
  });
});

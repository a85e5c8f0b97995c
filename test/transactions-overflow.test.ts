// A withdrawal whose coins add up past 2^52 is accepted (balances carry past 2^52 on purpose).
// getTransactions used to sum amounts as floats and refuse with amount-overflow from then on, on
// this wallet and on every wallet that imported the event: the history could never be listed
// again. Transaction amounts are now summed in units, like balances. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { WalletError } from "../src/errors.ts";
import { walletScope } from "./support/temp-wallet.ts";

const scope = walletScope({ now: () => Date.UTC(2025, 0, 1) });
afterEach(() => scope.cleanup());
const EX = "https://ex.example/";
const MAX = "KUDOS:4503599627370496"; // 2^52, the largest valid amount

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof WalletError ? e.code : `non-wallet-error:${String(e)}`;
  }
}

describe("a withdrawal the engine accepts never breaks getTransactions", () => {
  it("coins summing past 2^52 are listed, their total shown saturated like the balance", async () => {
    const w = await scope.open("dev-a");
    await w.addExchange({ exchangeBaseUrl: EX });
    const code = await codeOf(
      w.recordWithdrawal({
        exchangeBaseUrl: EX,
        withdrawalGroupId: "wg-big",
        coins: [
          { coinPub: "c-max", denomPubHash: "d", value: MAX },
          { coinPub: "c-one", denomPubHash: "d", value: "KUDOS:1" },
        ],
      }),
    );
    expect(code).toBeUndefined();
    // Listed here and on a device that merges the log; the total shows saturated, as the balance does.
    const listed = (await w.getTransactions()).transactions;
    expect(listed.map((t) => t.amountEffective)).toEqual(["KUDOS:4503599627370496.99999999"]);
    expect((await w.getBalances()).balances[0].available).toBe("KUDOS:4503599627370496.99999999");
    const b = await scope.open("dev-b");
    await b.importEvents(await w.exportEvents());
    expect((await b.getTransactions()).transactions).toEqual(listed);
  });
});

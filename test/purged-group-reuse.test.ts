// A purge (deleteExchange with purge) removes the exchange's coins and withdrawal groups that its
// author had seen. After re-adding the exchange, a withdrawal recorded into the purged group's id
// (the host chooses group ids) used to bring the purged instruction back: pendingIncoming showed what
// the purged withdrawal still expected, and the exchange reported a pending withdrawal group it never
// got. It is now refused as withdrawal-group-purged. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { walletScope } from "./support/temp-wallet.ts";

const scope = walletScope({ now: () => Date.UTC(2025, 0, 1) });
afterEach(() => scope.cleanup());
const EX = "https://ex.example/";

describe("a purged withdrawal group does not come back", () => {
  it("withdrawing into a purged group id after re-adding the exchange is refused (it would resurrect the purged pending amount)", async () => {
    const w = await scope.open("dev-a");
    await w.addExchange({ exchangeBaseUrl: EX });
    await w.recordWithdrawal({
      exchangeBaseUrl: EX,
      withdrawalGroupId: "g",
      amount: "KUDOS:10",
      coins: [{ coinPub: "c1", denomPubHash: "d", value: "KUDOS:5" }],
    });
    await w.deleteExchange({ exchangeBaseUrl: EX, purge: true });
    expect((await w.getBalances()).balances).toEqual([{ currency: "KUDOS", available: "KUDOS:0", pendingIncoming: "KUDOS:0" }]);

    await w.addExchange({ exchangeBaseUrl: EX });
    const clock = await w.getVectorClock();
    // Observed by this device, the purge removed the group: reusing its id is refused, and nothing is written.
    await expect(
      w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "g", coins: [{ coinPub: "c2", denomPubHash: "d", value: "KUDOS:1" }] }),
    ).rejects.toMatchObject({ code: "withdrawal-group-purged" });
    expect(await w.getVectorClock()).toEqual(clock);
    expect((await w.getBalances()).balances).toEqual([{ currency: "KUDOS", available: "KUDOS:0", pendingIncoming: "KUDOS:0" }]);
    // A new group id works as ever.
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "g2", coins: [{ coinPub: "c2", denomPubHash: "d", value: "KUDOS:1" }] });
    expect((await w.getBalances()).balances).toEqual([{ currency: "KUDOS", available: "KUDOS:1", pendingIncoming: "KUDOS:0" }]);
    expect(await w.getExchangeResources({ exchangeBaseUrl: EX })).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 0 });
  });
});

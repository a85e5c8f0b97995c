// DESIGN.md, "Projections": update status `unavailable-update` "when the exchange speaks an
// incompatible protocol version, advertises a new master public key, or offers only expired
// denominations". An incompatible version on the first contact used to leave the entry
// `initial-update` (and the attempt settled as a success, so it was not retried with backoff),
// while expired denominations on the first contact gave `unavailable-update`. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { walletScope } from "./support/temp-wallet.ts";

const wallets = walletScope();
const exchanges: TestExchange[] = [];
afterEach(async () => {
  await wallets.cleanup();
  for (const ex of exchanges.splice(0)) await ex.close();
});

describe("DD 48 update status on an incompatible protocol version", () => {
  it("is unavailable-update on the first contact too, not initial-update", async () => {
    const ex = await startTestExchange();
    exchanges.push(ex);
    ex.setVersion("30:0:0"); // 23:0:6 cannot speak 30:0:0 (30 - 0 > 23)
    const w = await wallets.open("dev-a");
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item.lastUpdateErrorInfo?.code).toBe("exchange-version-incompatible");
    expect(item.exchangeUpdateStatus).toBe("unavailable-update");
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("unavailable-update");
  });

  it("matches the first-contact treatment of expired denominations (control: passes today)", async () => {
    const ex = await startTestExchange();
    exchanges.push(ex);
    ex.setDenominationsExpired(true);
    const w = await wallets.open("dev-b");
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-denominations-expired" } });
  });
});

// A rejected /keys (an incompatible protocol version, a new master public key)
// is a failure like any other: the same failure again appends nothing to the
// shared log (decideUpdateOutcome's own rule for network failures). Every retry
// of the scheduler used to append another shared exchange-update-failed event,
// for as long as the exchange kept answering so, and every device replicated
// them. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { decideUpdateOutcome, type UpdateFindings } from "../src/projections/exchanges.ts";
import { ENGINE_EXCHANGE_PROTOCOL_VERSION, isProtocolCompatible } from "../src/transport/exchange-client.ts";
import type { KeysFactsData } from "../src/events/catalogue.ts";
import { startTestExchange } from "../src/testing/index.ts";
import { EX, added, keys, keysFetched, updateFailed } from "./support/facts.ts";
import { given } from "./support/given.ts";
import { tempWallet } from "./support/temp-wallet.ts";

const compatible = (v: string) => isProtocolCompatible(ENGINE_EXCHANGE_PROTOCOL_VERSION, v);
const answered = (k: KeysFactsData): UpdateFindings => ({ keys: { ok: true, notModified: false, keys: k }, compatible });

describe("the same rejected /keys again appends nothing", () => {
  it("a master key change already recorded as the last failure", () => {
    given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-master-pub-changed", "exchange now advertises master key MASTER-2, recorded is MASTER-1"))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ masterPub: "MASTER-2" })) })
      .thenNothing();
  });

  it("an incompatible version already recorded as the last failure", () => {
    given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-version-incompatible", "exchange speaks protocol 40:0:0, incompatible with this wallet"))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ version: "40:0:0" })) })
      .thenNothing();
  });
});

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe("retrying an exchange whose /keys is rejected", () => {
  it("records the failure once in the shared log, however often it is retried", async () => {
    const ex = await startTestExchange({ now: () => NOW });
    cleanups.push(() => ex.close());
    const t = await tempWallet({ deviceId: "a", now: () => NOW });
    cleanups.push(t.cleanup);
    const w = t.wallet;
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    ex.rotateMasterKey();
    for (let i = 0; i < 3; i++) {
      const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
      expect(item).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-master-pub-changed" } });
    }
    const failures = (await w.exportEvents()).filter((e) => e.type === "exchange-update-failed");
    expect(failures).toHaveLength(1);
  });
});

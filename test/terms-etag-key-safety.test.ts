// fetchTerms refuses, as exchange-terms-invalid, a version tag no offer event could record
// (unrecordableEtag), so that a bad /terms never aborts the update and /keys with it. When the
// catalogue's `id` (exchange-tos-offered.etag) began to refuse text a store key cannot hold (a long
// id with a byte 0x01-0x04), unrecordableEtag had to learn the same rule: a host's HttpClient can
// deliver such an ETag (Headers allow 0x01-0x1F), and updateExchange would then throw event-invalid
// and record no /keys. Found by review.
import { afterAll, beforeAll, afterEach, describe, expect, it } from "vitest";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import type { HttpClient } from "../src/transport/exchange-client.ts";
import { walletScope } from "./support/temp-wallet.ts";

// The real clock: the test exchange dates its denominations from Date.now.
const scope = walletScope();
afterEach(() => scope.cleanup());
let ex: TestExchange;
beforeAll(async () => {
  ex = await startTestExchange({ currency: "KUDOS" });
});
afterAll(() => ex.close());

/** fetch, but /terms answers with an ETag holding `odd`. */
const oddTermsEtag =
  (odd: string): HttpClient =>
  async (url, init) => {
    const resp = await fetch(url, init);
    if (!String(url).endsWith("/terms") || resp.status !== 200) return resp;
    const headers = new Headers(resp.headers);
    headers.set("ETag", `"terms${odd}v1"`);
    return new Response(await resp.arrayBuffer(), { status: 200, headers });
  };

describe("a /terms ETag a store key could not hold", () => {
  it("does not abort the update: /keys is recorded and the terms are refused as the exchange's fault", async () => {
    const w = await scope.open("dev", { http: oddTermsEtag("x".repeat(70) + "\u0001") });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item.currency).toBe("KUDOS");
    expect(item.exchangeUpdateStatus).toBe("ready");
    expect(item.tosStatus).toBe("pending");
    expect(item.lastUpdateErrorInfo?.code).toBe("exchange-terms-invalid");
  });
});

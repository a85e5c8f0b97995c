// The host's http client is foreign code. When it rejects with a value that has no string form
// (an object without toString, e.g. Object.create(null)), updateExchange, getExchangeTos and
// addBackupProvider used to answer internal-error ("a bug in the engine") instead of the
// network-error code they give for any other rejection: both clients called String(e) on it, which
// throws a TypeError. They now use thrownText (src/errors.ts), which never throws. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { walletScope } from "./support/temp-wallet.ts";

const scope = walletScope({ now: () => Date.UTC(2025, 0, 1) });
afterEach(() => scope.cleanup());
const EX = "https://ex.example/";

describe("an http client rejecting with a value that has no string form", () => {
  const http = async (): Promise<Response> => {
    throw Object.create(null);
  };

  it("updateExchange records a network error, like for any other rejection", async () => {
    const w = await scope.open("dev-a", { http });
    await w.addExchange({ exchangeBaseUrl: EX });
    const r = await w.handleRequest("updateExchange", "1", { exchangeBaseUrl: EX, force: true });
    expect(r.type === "error" ? r.error.code : "response").not.toBe("internal-error");
  });

  it("getExchangeTos is exchange-network-error", async () => {
    const w = await scope.open("dev-a", { http });
    await w.addExchange({ exchangeBaseUrl: EX });
    const r = await w.handleRequest("getExchangeTos", "1", { exchangeBaseUrl: EX });
    expect(r.type === "error" && r.error.code).toBe("exchange-network-error");
  });

  it("addBackupProvider is sync-network-error", async () => {
    const w = await scope.open("dev-a", { http });
    const r = await w.handleRequest("addBackupProvider", "1", { backupProviderBaseUrl: "https://sync.example/" });
    expect(r.type === "error" && r.error.code).toBe("sync-network-error");
  });
});

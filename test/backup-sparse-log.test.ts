// importBackupPlain takes the plain backup object from JavaScript callers too. A `log.data` array
// with a hole (a sparse array, e.g. after `delete content.log.data[0]`) used to pass the length check
// in decodeLog (src/backup/log-codec.ts); `data.map(createColumnDecoder)` skipped the hole, and the
// walk then called `.skip` on undefined: the caller got internal-error ("a bug in the engine")
// instead of a code for a malformed backup. checkArray now refuses holes. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { walletScope } from "./support/temp-wallet.ts";

const scope = walletScope({ now: () => Date.UTC(2025, 0, 1) });
afterEach(() => scope.cleanup());
const EX = "https://ex.example/";

describe("a plain backup whose log.data has a hole", () => {
  it("is refused as a malformed backup, not internal-error, and changes nothing", async () => {
    const a = await scope.open("dev-a");
    await a.addExchange({ exchangeBaseUrl: EX });
    await a.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "c1", denomPubHash: "d", value: "KUDOS:5" }] });
    const content = JSON.parse(JSON.stringify(await a.exportBackupPlain()));
    expect(content.log.data.length).toBeGreaterThan(0);
    delete content.log.data[0];

    const b = await scope.open("dev-b");
    const clock = await b.getVectorClock();
    const r = await b.handleRequest("importBackupPlain", "1", content);
    expect(r.type).toBe("error");
    expect(r.type === "error" && r.error.code).not.toBe("internal-error");
    expect(r.type === "error" && r.error.code).toMatch(/^backup-/);
    expect(await b.getVectorClock()).toEqual(clock);
  });
});

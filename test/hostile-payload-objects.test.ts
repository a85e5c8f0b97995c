// A payload is the host's object: a getter that throws or a Proxy whose traps
// throw is a caller's mistake, and is refused as one (request-invalid or
// event-invalid, nothing written). Whatever those reads threw used to reach
// asWalletError as internal-error, or, for an import, whose reads run inside the
// write transaction, store-failed. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import { walletScope } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const scope = walletScope({ now: () => Date.UTC(2025, 0, 15) });
afterEach(() => scope.cleanup());

describe("payload objects whose reads throw", () => {
  it("a request field whose getter throws is request-invalid, and nothing is written", async () => {
    const w = await scope.open("dev");
    const payload = {
      get exchangeBaseUrl(): string {
        throw new Error("getter says no");
      },
    };
    const r = await w.handleRequest("addExchange", "1", payload);
    expect(r.type).toBe("error");
    if (r.type === "error") expect(r.error.code).toBe("request-invalid");
    expect(await w.exportEvents()).toEqual([]);
  });

  it("a Proxy whose ownKeys trap throws is request-invalid", async () => {
    const w = await scope.open("dev");
    const payload = new Proxy(
      {},
      {
        ownKeys() {
          throw new TypeError("trap says no");
        },
      },
    );
    const r = await w.handleRequest("listExchanges", "2", payload);
    expect(r.type).toBe("error");
    if (r.type === "error") expect(r.error.code).toBe("request-invalid");
  });

  it("an imported event whose getter throws is refused with a request or event code, and nothing is added", async () => {
    const w = await scope.open("dev");
    await w.addExchange({ exchangeBaseUrl: EX });
    const log = await w.exportEvents();
    const hostile = {
      get device(): string {
        throw new Error("getter says no");
      },
      seq: 1,
    };
    const r = await w.handleRequest("importEvents", "3", [hostile]);
    expect(r.type).toBe("error");
    if (r.type === "error") expect(["request-invalid", "event-invalid"]).toContain(r.error.code);
    expect(await w.exportEvents()).toEqual(log);
  });
});

const CALLER_CODES = ["request-invalid", "event-invalid", "backup-content-invalid"];

describe("host objects whose reads throw, on the remaining paths", () => {
  it("importEvents with an array Proxy whose get trap throws is a caller's error, not store-failed", async () => {
    const src = await scope.open("src");
    await src.addExchange({ exchangeBaseUrl: EX });
    const log = await src.exportEvents();
    const w = await scope.open("dev");
    const hostile = new Proxy(log, {
      get(t, k, r) {
        if (k === "0") throw new Error("trap says no");
        return Reflect.get(t, k, r);
      },
    });
    const r = await w.handleRequest("importEvents", "1", hostile);
    expect(r.type).toBe("error");
    if (r.type === "error") expect(CALLER_CODES).toContain(r.error.code);
    expect(await w.exportEvents()).toEqual([]);
  });

  it("importBackupPlain with a getter that throws is a caller's error, not internal-error", async () => {
    const w = await scope.open("dev");
    const content = {
      get schema_id(): string {
        throw new Error("getter says no");
      },
    };
    const r = await w.handleRequest("importBackupPlain", "2", content);
    expect(r.type).toBe("error");
    if (r.type === "error") expect(CALLER_CODES).toContain(r.error.code);
  });
});

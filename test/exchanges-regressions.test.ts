// Exchange entries (DD 48) and their HTTP client, regression examples for bugs
// found by review (stop 25): presets never collected; unasked-for 304s, huge
// bodies and huge error hints refused or cut; no /terms for an exchange
// suspended meanwhile; /keys revalidated only with the ETag of the keys held;
// overlapping updates; a suspension or acceptance concurrent with a delete.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet, WalletError, type OpenWalletOptions, type Wallet } from "../src/index.ts";
import { checkAddWins, startTestExchange, type TestExchange } from "../src/testing/index.ts";

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const GC_AFTER = 10_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempWallet(opts: Partial<OpenWalletOptions> = {}): Promise<{ w: Wallet; clock: { t: number } }> {
  const dir = mkdtempSync(join(tmpdir(), "rev-dd48-"));
  const clock = { t: NOW };
  const w = await openWallet({ path: dir, now: () => clock.t, ephemeralGcAfterMs: GC_AFTER, httpTimeoutMs: 2000, ...opts });
  cleanups.push(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { w, clock };
}

async function testExchange(): Promise<TestExchange> {
  const ex = await startTestExchange({ now: () => NOW });
  cleanups.push(() => ex.close());
  return ex;
}

describe("ephemeral GC and presets", () => {
  it("a preset that was only updated (fees checked) is not garbage-collected away", async () => {
    const ex = await testExchange();
    const { w, clock } = await tempWallet();
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl, preset: true });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    clock.t = NOW + 2 * GC_AFTER;
    const report = await w.runPendingUpdates({ now: clock.t });
    // DD 48 / decideCollectEphemeral's own doc: presets stay.
    expect(report.collected).toEqual([]);
    const list = (await w.listExchanges()).exchanges.map((e) => e.exchangeBaseUrl);
    expect(list).toEqual([ex.baseUrl]);
  });
});

describe("/keys answers", () => {
  it("a 304 to a /keys request that sent no If-None-Match is not a successful update", async () => {
    const ex = await testExchange();
    // The real test exchange behind a proxy that answers an unconditional GET /keys with 304.
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      const h = new Headers(init?.headers);
      if (url.endsWith("/keys") && !h.has("If-None-Match")) {
        await fetch(url, init); // the exchange is still asked
        return new Response(null, { status: 304 });
      }
      return fetch(url, init);
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    let item: unknown;
    let err: unknown;
    try {
      item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    } catch (e) {
      err = e;
    }
    const entry = await w.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl });
    // Nothing was learned: the update must say why (an error code), not pass silently as a success.
    expect({ item, err: err instanceof WalletError ? err.code : err, entry }).toMatchObject({
      entry: { exchangeUpdateStatus: "initial-update", lastUpdateErrorInfo: { code: expect.any(String) } },
    });
  });
});

describe("huge bodies", () => {
  it("a /keys body of 600 MB is not read whole, and is not reported as a network error", async () => {
    const ex = await testExchange();
    const CHUNK = new Uint8Array(1 << 20).fill(0x20); // JSON whitespace
    let pulled = 0;
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      const real = await fetch(url, init); // the real exchange is asked
      if (!url.endsWith("/keys")) return real;
      await real.body?.cancel();
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (n++ >= 600) c.close();
          else {
            pulled += CHUNK.length;
            c.enqueue(CHUNK);
          }
        },
      });
      return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
    };
    const { w } = await tempWallet({ http, httpTimeoutMs: 60_000 });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    // Expected: the read stops at a bound (the sync client has readBodyBounded) with a specific code.
    // Actual: all 600 MB are read, and V8's "Cannot create a string longer than ..." becomes exchange-network-error.
    expect({ code: item.lastUpdateErrorInfo?.code, readAtMostMB64: pulled <= 64 * 2 ** 20 }).toEqual({
      code: expect.not.stringMatching(/^exchange-network-error$/),
      readAtMostMB64: true,
    });
  }, 60_000);
});

async function expectCodeOf(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: "WalletError", code });
}

async function sync(from: Wallet, to: Wallet): Promise<void> {
  await to.importEvents(await from.exportEvents({ since: await to.getVectorClock() }));
}

describe("delete merged with concurrent requests", () => {
  it("a suspension and ToS acceptance concurrent with a delete keep the entry (add-wins), and do not haunt a later re-add", async () => {
    const ex = await testExchange();
    const { w: a } = await tempWallet({ deviceId: "devA" });
    const { w: b } = await tempWallet({ deviceId: "devB" });
    await a.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await a.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await sync(a, b);
    // Concurrently: B suspends and accepts the ToS, A deletes the entry.
    await b.setExchangeTosAccepted({ exchangeBaseUrl: ex.baseUrl, etag: "v1" });
    await b.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    await a.deleteExchange({ exchangeBaseUrl: ex.baseUrl });
    await sync(a, b);
    await sync(b, a);
    // The suspension and the acceptance were interactions the delete had not seen: they keep the entry
    // (add-wins), on both replicas alike, as B left it.
    const kept = await a.listExchanges();
    expect(kept).toEqual(await b.listExchanges());
    // (The offer it accepted was A's, which the delete removed: the ToS is pending until offered again.)
    expect(kept.exchanges).toMatchObject([{ exchangeBaseUrl: ex.baseUrl, exchangeEntryStatus: "ephemeral", tosStatus: "pending" }]);
    await expectCodeOf(a.updateExchange({ exchangeBaseUrl: ex.baseUrl }), "exchange-suspended");
    // Deleted again, now that A has seen them: gone on both, and a re-add is a fresh entry, no ghost of them.
    await a.deleteExchange({ exchangeBaseUrl: ex.baseUrl });
    await sync(a, b);
    expect((await a.listExchanges()).exchanges).toEqual([]);
    expect((await b.listExchanges()).exchanges).toEqual([]);
    await a.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(await a.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl })).toEqual({
      exchangeBaseUrl: ex.baseUrl,
      exchangeEntryStatus: "ephemeral",
      exchangeUpdateStatus: "initial-update",
      tosStatus: "pending",
    });
    // and it can be updated (it is not suspended)
    const item = await a.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(item.exchangeUpdateStatus).toBe("ready");
    expect(item.tosStatus).toBe("proposed"); // the ToS of the new entry was never accepted
  });
});

describe("suspension during an update", () => {
  it("an exchange suspended while its /keys is awaited is not contacted for /terms afterwards", async () => {
    const ex = await testExchange();
    let releaseKeys!: () => void;
    const keysGate = new Promise<void>((r) => (releaseKeys = r));
    let keysAsked!: () => void;
    const keysAskedP = new Promise<void>((r) => (keysAsked = r));
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      if (url.endsWith("/keys")) {
        keysAsked();
        await keysGate; // a slow exchange
      }
      return fetch(url, init);
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const updating = w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    await keysAskedP;
    await w.setExchangeSuspended({ exchangeBaseUrl: ex.baseUrl, suspended: true });
    const suspendedAt = ex.requests.length;
    releaseKeys();
    await updating.catch(() => {});
    // DD 48: a suspended exchange "should not be contacted anymore".
    expect(ex.requests.slice(suspendedAt).map((r) => r.path).filter((p) => p === "/terms")).toEqual([]);
  });
});

describe("/keys validators", () => {
  it("a 200 /keys without ETag drops the old validator: a later 304 must not leave the wallet on stale keys", async () => {
    const ex = await testExchange();
    let stripEtag = false;
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      const resp = await fetch(url, init);
      if (!stripEtag || !url.endsWith("/keys")) return resp;
      const headers = new Headers(resp.headers);
      headers.delete("ETag");
      return new Response(await resp.text(), { status: resp.status, headers });
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("ready"); // K1, ETag E1

    // The exchange publishes other keys (only expired denominations), this time without an ETag.
    ex.setDenominationsExpired(true);
    stripEtag = true;
    expect((await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("unavailable-update"); // K2 recorded

    // The exchange is back to K1 (fresh denominations, ETag E1 again).
    ex.setDenominationsExpired(false);
    stripEtag = false;
    const item = await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const last = ex.requests.filter((r) => r.path === "/keys").at(-1)!;
    // Actual: the wallet sent If-None-Match E1 (the validator of K1, not of the K2 it holds), got 304 and kept K2.
    expect({ ifNoneMatch: last.headers["if-none-match"], status: item.exchangeUpdateStatus }).toEqual({
      ifNoneMatch: undefined,
      status: "ready",
    });
  });
});

describe("/keys validators across devices", () => {
  it("keys merged from another device are not revalidated with this device's older ETag", async () => {
    const ex = await testExchange();
    const { w: a } = await tempWallet({ deviceId: "devA" });
    const { w: b } = await tempWallet({ deviceId: "devB" });
    await a.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await a.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("ready"); // A: K1, ETag E1
    await sync(a, b);
    ex.setDenominationsExpired(true); // K2
    expect((await b.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("unavailable-update");
    await sync(b, a); // A now holds B's K2
    expect((await a.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("unavailable-update");
    ex.setDenominationsExpired(false); // the exchange serves K1 again
    const item = await a.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    // Actual: A sends If-None-Match E1 (its own K1's validator), gets 304, keeps K2: unavailable-update.
    expect(item.exchangeUpdateStatus).toBe("ready");
  });
});

describe("unsolicited 304 on /terms", () => {
  it("getExchangeTos does not return an empty ToS as success when /terms answers 304 to an unconditional GET", async () => {
    const ex = await testExchange();
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      const resp = await fetch(url, init);
      if (!url.endsWith("/terms") || new Headers(init?.headers).has("If-None-Match")) return resp;
      await resp.body?.cancel();
      return new Response(null, { status: 304, headers: { ETag: resp.headers.get("ETag")! } });
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    let out: unknown;
    try {
      out = await w.getExchangeTos({ exchangeBaseUrl: ex.baseUrl });
    } catch (e) {
      out = e instanceof WalletError ? e.code : e;
    }
    // Actual: { content: "", contentType: "", ... } returned as the terms of service.
    expect(out).not.toMatchObject({ content: "", contentType: "" });
  });
});

describe("overlapping updates", () => {
  it("is ready-update while a second update of the same exchange is still in flight", async () => {
    const ex = await testExchange();
    const gates: (() => void)[] = [];
    let asked = 0;
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      if (url.endsWith("/keys")) {
        asked++;
        await new Promise<void>((r) => gates.push(r));
      }
      return fetch(url, init);
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    const first = w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const second = w.updateExchange({ exchangeBaseUrl: ex.baseUrl, force: true });
    while (asked < 2) await new Promise((r) => setTimeout(r, 5));
    gates[0](); // the first finishes, the second is still waiting for /keys
    await first;
    const during = await w.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl });
    gates[1]();
    await second;
    // Actual: "ready" — the first settle cleared the single inFlight flag although the second is in flight.
    expect(during.exchangeUpdateStatus).toBe("ready-update");
  });
});

describe("error bodies", () => {
  it("a huge error hint from /keys is not copied whole into a shared event", async () => {
    const ex = await testExchange();
    const http = async (url: string, init?: RequestInit): Promise<Response> => {
      const resp = await fetch(url, init);
      if (!url.endsWith("/keys")) return resp;
      await resp.body?.cancel();
      return new Response(JSON.stringify({ code: 1000, hint: "x".repeat(20 * 2 ** 20) }), { status: 500 });
    };
    const { w } = await tempWallet({ http });
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    const failed = (await w.exportEvents()).find((e) => e.type === "exchange-update-failed")!;
    // Actual: a 20 MiB message in the shared log (every device, every backup).
    expect((failed.data as { message: string }).message.length).toBeLessThan(64 * 1024);
  });
});

describe("/keys validators after a failure", () => {
  it("a 304 after a failed update re-asserts the keys it validates: the next update still revalidates /keys", async () => {
    const ex = await testExchange();
    const { w } = await tempWallet();
    const keysRequests = () => ex.requests.filter((r) => r.path === "/keys");
    await w.addExchange({ exchangeBaseUrl: ex.baseUrl });
    expect((await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("ready"); // 200, ETag E1
    const e1 = keysRequests().length;
    ex.setFault({ kind: "http-500", path: "keys" });
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl }); // fails
    ex.setFault(undefined);
    expect((await w.updateExchange({ exchangeBaseUrl: ex.baseUrl })).exchangeUpdateStatus).toBe("ready");
    const recovered = keysRequests().at(-1)!;
    expect(recovered.headers["if-none-match"]).toBeDefined(); // revalidated: 304, same keys
    expect(keysRequests().length).toBe(e1 + 2);
    // Nothing changed at the exchange: the same validator still names the keys held.
    await w.updateExchange({ exchangeBaseUrl: ex.baseUrl });
    expect(keysRequests().at(-1)!.headers["if-none-match"]).toBe(recovered.headers["if-none-match"]);
  });
});

describe("the add-wins law of src/testing", () => {
  it("agrees with the engine when a suspension is concurrent with a delete", async () => {
    const X = "https://x.example/";
    const { w: a } = await tempWallet({ deviceId: "devA" });
    const { w: b } = await tempWallet({ deviceId: "devB" });
    await a.addExchange({ exchangeBaseUrl: X });
    await sync(a, b);
    await b.setExchangeSuspended({ exchangeBaseUrl: X, suspended: true });
    await a.deleteExchange({ exchangeBaseUrl: X });
    await sync(a, b);
    await sync(b, a);
    expect((await a.listExchanges()).exchanges.map((e) => [e.exchangeBaseUrl, e.exchangeEntryStatus])).toEqual([[X, "ephemeral"]]);
    await expect(checkAddWins(a, [X])).resolves.toBeUndefined();
  });
});

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ENGINE_EXCHANGE_PROTOCOL_VERSION,
  fetchKeys,
  fetchTerms,
  isProtocolCompatible,
  parseProtocolVersion,
  type HttpClient,
  type KeysFacts,
} from "../src/transport/exchange-client.ts";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import { decodeCrock, encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";

const http: HttpClient = (url, init) => fetch(url, init);
const NOW_MS = Date.UTC(2025, 0, 15, 12, 0, 0);
const NOW_S = NOW_MS / 1000;
const DAY_S = 86_400;

function keysOf(r: Awaited<ReturnType<typeof fetchKeys>>): KeysFacts {
  if (!r.ok || r.notModified) throw new Error(`expected fresh keys, got ${JSON.stringify(r)}`);
  return r.keys;
}

describe("fetchKeys against the test exchange", () => {
  let ex: TestExchange;
  beforeAll(async () => {
    ex = await startTestExchange({ now: () => NOW_MS });
  });
  afterEach(() => ex.reset());
  afterAll(() => ex.close());

  it("reads the facts the engine needs from /keys", async () => {
    const r = await fetchKeys(http, ex.baseUrl);
    const keys = keysOf(r);
    expect(ex.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(keys.currency).toBe("KUDOS");
    expect(keys.version).toBe("23:0:6");
    expect(keys.masterPub).toBe(ex.masterPub());
    expect(keys.masterPub).toHaveLength(52);
    expect(keys.reserveClosingDelayUs).toBe(28 * DAY_S * 1_000_000);
    expect(keys.listIssueDate).toBe(NOW_S);
    expect(keys.signkeys).toHaveLength(2);
    expect(keys.denominations).toHaveLength(4);
    expect(keys.denominations.map((d) => d.value).sort()).toEqual(["KUDOS:1", "KUDOS:1", "KUDOS:5", "KUDOS:5"]);
    const d = keys.denominations[0];
    expect(d.feeWithdraw).toBe("KUDOS:0.01");
    expect(d.cipher).toBe("RSA");
    expect(d.stampStart).toBe(NOW_S - DAY_S);
    expect(d.stampExpireWithdraw).toBe(NOW_S + 30 * DAY_S);
    expect(d.stampExpireDeposit).toBe(NOW_S + 90 * DAY_S);
    expect(d.stampExpireLegal).toBe(NOW_S + 365 * DAY_S);
  });

  it("hashes each denomination public key and sorts by that hash", async () => {
    const keys = keysOf(await fetchKeys(http, ex.baseUrl));
    const hashes = keys.denominations.map((d) => d.denomPubHash);
    expect([...hashes].sort()).toEqual(hashes);
    const raw = ex.keysJson() as { denominations: { denoms: { rsa_pub: string }[] }[] };
    const expected = raw.denominations
      .flatMap((g) => g.denoms)
      .map((dn) => encodeCrock(sha512(decodeCrock(dn.rsa_pub))))
      .sort();
    expect(hashes).toEqual(expected);
  });

  it("answers notModified when the etag is still current, and fresh keys after a change", async () => {
    const first = await fetchKeys(http, ex.baseUrl);
    if (!first.ok || first.notModified) throw new Error("expected keys");
    expect(first.etag).toBeTruthy();
    const again = await fetchKeys(http, ex.baseUrl, { etag: first.etag });
    expect(again).toEqual({ ok: true, notModified: true });
    expect(ex.requests.at(-1)?.headers["if-none-match"]).toBe(`"${first.etag}"`);
    ex.rotateMasterKey();
    const rotated = keysOf(await fetchKeys(http, ex.baseUrl, { etag: first.etag }));
    expect(rotated.masterPub).not.toBe(first.keys.masterPub);
  });

  it("hashes cs_pub too, and the UTF-8 text of a key that is not Crockford", async () => {
    ex.setFault([
      { kind: "missing-field", field: "denominations[0].denoms[0].rsa_pub" },
      { kind: "set-field", field: "denominations[0].denoms[0].cs_pub", value: "0123ABCD" },
      { kind: "set-field", field: "denominations[0].denoms[1].rsa_pub", value: "not crockford!" },
    ]);
    const hashes = keysOf(await fetchKeys(http, ex.baseUrl)).denominations.map((d) => d.denomPubHash);
    expect(hashes).toContain(encodeCrock(sha512(decodeCrock("0123ABCD"))));
    expect(hashes).toContain(encodeCrock(sha512("not crockford!")));
  });

  it("reports the advertised version and expired denominations as facts", async () => {
    ex.setVersion("30:0:0");
    ex.setDenominationsExpired(true);
    const keys = keysOf(await fetchKeys(http, ex.baseUrl));
    expect(keys.version).toBe("30:0:0");
    expect(isProtocolCompatible(ENGINE_EXCHANGE_PROTOCOL_VERSION, keys.version)).toBe(false);
    for (const d of keys.denominations) expect(d.stampExpireWithdraw).toBeLessThan(NOW_S);
  });

  it("turns HTTP 500 into exchange-http-error with the status", async () => {
    ex.setFault({ kind: "http-500" });
    const r = await fetchKeys(http, ex.baseUrl);
    expect(r).toMatchObject({ ok: false, code: "exchange-http-error", httpStatus: 500 });
  });

  it("gives up on a hanging exchange with exchange-timeout", async () => {
    ex.setFault({ kind: "hang" });
    const r = await fetchKeys(http, ex.baseUrl, { timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, code: "exchange-timeout" });
    // The deadline, not the server, ended it: one request was made and the message names the 200 ms bound.
    expect(ex.requests.filter((q) => q.path === "/keys")).toHaveLength(1);
    expect(r.ok === false && r.message).toContain("200 ms");
  });

  it("reports a body that is not JSON as exchange-malformed-response", async () => {
    ex.setFault({ kind: "malformed-json" });
    expect(await fetchKeys(http, ex.baseUrl)).toMatchObject({ ok: false, code: "exchange-malformed-response" });
  });

  it.each([
    "currency",
    "master_public_key",
    "version",
    "reserve_closing_delay",
    "list_issue_date",
    "signkeys",
    "signkeys[1].stamp_end",
    "denominations",
    "denominations[1].fee_refund",
    "denominations[0].denoms[1].stamp_expire_withdraw",
    "denominations[0].denoms[0].rsa_pub",
  ])("names the missing field %s", async (field) => {
    ex.setFault({ kind: "missing-field", field, path: "keys" });
    const r = await fetchKeys(http, ex.baseUrl);
    expect(r).toMatchObject({ ok: false, code: "exchange-keys-invalid" });
    if (r.ok) throw new Error("unreachable");
    expect(r.message).toContain(field);
  });

  it("names a wrongly typed field down to the t_s", async () => {
    ex.setFault({ kind: "set-field", field: "denominations[1].denoms[0].stamp_start.t_s", value: "soon" });
    const r = await fetchKeys(http, ex.baseUrl);
    expect(r).toMatchObject({ ok: false, code: "exchange-keys-invalid" });
    if (r.ok) throw new Error("unreachable");
    expect(r.message).toContain("denominations[1].denoms[0].stamp_start.t_s");
  });

  it("accepts never as a timestamp and ignores unknown fields", async () => {
    ex.setFault({ kind: "set-field", field: "denominations[0].denoms[0].stamp_expire_legal", value: { t_s: "never" } });
    const r = await fetchKeys(http, ex.baseUrl);
    expect(r.ok).toBe(true);
    ex.setFault({ kind: "set-field", field: "something_new", value: { nested: [1, 2, 3] } });
    expect((await fetchKeys(http, ex.baseUrl)).ok).toBe(true);
  });

  it("scopes a fault to its path", async () => {
    ex.setFault({ kind: "http-500", path: "terms" });
    expect((await fetchKeys(http, ex.baseUrl)).ok).toBe(true);
    expect(await fetchTerms(http, ex.baseUrl)).toMatchObject({ ok: false, httpStatus: 500 });
  });

  it("reports a reset connection as exchange-network-error", async () => {
    ex.setFault({ kind: "reset" });
    expect(await fetchKeys(http, ex.baseUrl)).toMatchObject({ ok: false, code: "exchange-network-error" });
  });

  it("answers unknown paths with 404 and a JSON error", async () => {
    const resp = await fetch(`${ex.baseUrl}nowhere`);
    expect(resp.status).toBe(404);
    expect(await resp.json()).toMatchObject({ hint: expect.any(String) });
    expect(await fetchKeys(http, `${ex.baseUrl}nowhere/`)).toMatchObject({ code: "exchange-http-error", httpStatus: 404 });
  });

  it("logs every request so tests can tell whether the exchange was contacted", async () => {
    expect(ex.requests).toHaveLength(0);
    await fetchKeys(http, ex.baseUrl);
    await fetchTerms(http, ex.baseUrl);
    expect(ex.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /keys", "GET /terms"]);
  });
});

describe("transport failures", () => {
  it("reports a closed port as exchange-network-error", async () => {
    const ex = await startTestExchange();
    const url = ex.baseUrl;
    await ex.close();
    expect(await fetchKeys(http, url)).toMatchObject({ ok: false, code: "exchange-network-error" });
    expect(await fetchTerms(http, url)).toMatchObject({ ok: false, code: "exchange-network-error" });
  });

  it("close() ends promptly even with a request hanging", async () => {
    const ex = await startTestExchange();
    ex.setFault({ kind: "hang" });
    const pending = fetchKeys(http, ex.baseUrl, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    await ex.close();
    // A network error, not exchange-timeout: close() cut the connection long before the client's 5 s deadline.
    expect(await pending).toMatchObject({ ok: false, code: "exchange-network-error" });
  });

  it("never throws, whatever the http function does", async () => {
    const throwsSync: HttpClient = () => {
      throw new Error("boom");
    };
    const rejects: HttpClient = () => Promise.reject(new TypeError("offline"));
    const ignoresSignal: HttpClient = () => new Promise<Response>(() => {});
    const notJson: HttpClient = async () => new Response("null", { status: 200 });
    expect(await fetchKeys(throwsSync, "http://x/")).toMatchObject({ code: "exchange-network-error" });
    expect(await fetchKeys(rejects, "http://x/")).toMatchObject({ code: "exchange-network-error" });
    expect(await fetchTerms(rejects, "http://x/")).toMatchObject({ code: "exchange-network-error" });
    expect(await fetchKeys(ignoresSignal, "http://x/", { timeoutMs: 50 })).toMatchObject({ code: "exchange-timeout" });
    expect(await fetchTerms(ignoresSignal, "http://x/", { timeoutMs: 50 })).toMatchObject({ code: "exchange-timeout" });
    expect(await fetchKeys(notJson, "http://x/")).toMatchObject({ code: "exchange-malformed-response" });
  });

  it("uses the injected http function, not a global one", async () => {
    const ex = await startTestExchange();
    try {
      const calls: { url: string; headers: Record<string, string> }[] = [];
      const counting: HttpClient = (url, init) => {
        calls.push({ url, headers: { ...(init?.headers as Record<string, string>) } });
        return fetch(url, init);
      };
      await fetchKeys(counting, ex.baseUrl, { etag: "abc" });
      await fetchTerms(counting, ex.baseUrl, { acceptLanguage: ["de"], acceptFormat: ["text/markdown", "text/plain"] });
      expect(calls.map((c) => c.url)).toEqual([`${ex.baseUrl}keys`, `${ex.baseUrl}terms`]);
      expect(calls[0].headers["If-None-Match"]).toBe('"abc"');
      expect(calls[1].headers).toMatchObject({ Accept: "text/markdown, text/plain", "Accept-Language": "de" });
      expect(ex.requests).toHaveLength(2);
    } finally {
      await ex.close();
    }
  });
});

describe("fetchTerms against the test exchange", () => {
  let ex: TestExchange;
  beforeAll(async () => {
    ex = await startTestExchange();
  });
  afterEach(() => ex.reset());
  afterAll(() => ex.close());

  it("serves English plain text by default with version, etag and languages", async () => {
    const r = await fetchTerms(http, ex.baseUrl);
    expect(r).toMatchObject({
      ok: true,
      notModified: false,
      etag: "v1",
      termsVersion: "v1",
      contentType: "text/plain",
      contentLanguage: "en",
      availableLanguages: ["de", "en"],
    });
    if (!r.ok) throw new Error("unreachable");
    expect(r.content).toContain("Terms of Service (v1)");
    expect(ex.requests.at(-1)?.headers.accept).toBe("text/plain");
  });

  it("negotiates language and format", async () => {
    const md = await fetchTerms(http, ex.baseUrl, { acceptFormat: ["text/markdown"], acceptLanguage: ["en"] });
    expect(md).toMatchObject({ contentType: "text/markdown", contentLanguage: "en" });
    const de = await fetchTerms(http, ex.baseUrl, { acceptLanguage: ["fr", "de-CH"] });
    expect(de).toMatchObject({ contentType: "text/plain", contentLanguage: "de" });
    if (!de.ok) throw new Error("unreachable");
    expect(de.content).toContain("Geschäftsbedingungen");
    // German has no markdown: the exchange falls back to plain text.
    const deMd = await fetchTerms(http, ex.baseUrl, { acceptLanguage: ["de"], acceptFormat: ["text/markdown"] });
    expect(deMd).toMatchObject({ contentType: "text/plain", contentLanguage: "de" });
    const unknown = await fetchTerms(http, ex.baseUrl, { acceptLanguage: ["ja"], acceptFormat: ["application/pdf"] });
    expect(unknown).toMatchObject({ contentType: "text/plain", contentLanguage: "en" });
    const any = await fetchTerms(http, ex.baseUrl, { acceptFormat: ["*/*"] });
    expect(any).toMatchObject({ contentType: "text/plain" });
    expect(ex.requests.at(-1)?.headers.accept).toBe("*/*");
  });

  it("answers notModified for the current etag and a new etag after setTos", async () => {
    const first = await fetchTerms(http, ex.baseUrl);
    if (!first.ok) throw new Error("expected terms");
    const same = await fetchTerms(http, ex.baseUrl, { etag: first.etag });
    expect(same).toMatchObject({ ok: true, notModified: true, etag: "v1", content: "" });
    ex.setTos({ version: "v2", languages: { en: { "text/plain": "v2 terms" }, fr: { "text/plain": "conditions v2" } } });
    const changed = await fetchTerms(http, ex.baseUrl, { etag: first.etag });
    expect(changed).toMatchObject({
      ok: true,
      notModified: false,
      etag: "v2",
      termsVersion: "v2",
      content: "v2 terms",
      availableLanguages: ["en", "fr"],
    });
  });

  it("falls back to Taler-Terms-Version without an ETag, and fails without both", async () => {
    ex.setFault({ kind: "missing-field", field: "ETag", path: "terms" });
    expect(await fetchTerms(http, ex.baseUrl)).toMatchObject({ ok: true, etag: "v1" });
    ex.setFault([
      { kind: "missing-field", field: "ETag", path: "terms" },
      { kind: "missing-field", field: "Taler-Terms-Version", path: "terms" },
    ]);
    expect(await fetchTerms(http, ex.baseUrl)).toMatchObject({ ok: false, code: "exchange-terms-invalid" });
  });

  it("refuses a 304 to a request that named no version: it confirms nothing (and names nothing an offer could record)", async () => {
    // A real server that answers every request 304 Not Modified, with no headers at all.
    const server = createServer((_req, res) => {
      res.writeHead(304);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await fetchTerms(http, `http://127.0.0.1:${port}/`)).toMatchObject({ ok: false, code: "exchange-http-error", httpStatus: 304 });
      expect(await fetchKeys(http, `http://127.0.0.1:${port}/`)).toMatchObject({ ok: false, code: "exchange-http-error", httpStatus: 304 });
      // With a version of its own to fall back on, the 304 confirms that version.
      expect(await fetchTerms(http, `http://127.0.0.1:${port}/`, { etag: "v7" })).toMatchObject({ ok: true, notModified: true, etag: "v7" });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses an ETag longer than the 512 bytes an event may record", async () => {
    ex.setTos({ version: "é".repeat(257), languages: { en: { "text/plain": "terms" } } });
    expect(await fetchTerms(http, ex.baseUrl)).toMatchObject({ ok: false, code: "exchange-terms-invalid" });
    ex.setTos({ version: "v".repeat(512), languages: { en: { "text/plain": "terms" } } });
    expect(await fetchTerms(http, ex.baseUrl)).toMatchObject({ ok: true, etag: "v".repeat(512) });
  });

  it("times out on a hanging /terms", async () => {
    ex.setFault({ kind: "hang", path: "terms" });
    expect(await fetchTerms(http, ex.baseUrl, { timeoutMs: 200 })).toMatchObject({ ok: false, code: "exchange-timeout" });
  });
});

describe("protocol versions", () => {
  it.each([
    ["23:0:6", "23:0:6", true],
    ["23:0:6", "23:0:0", true],
    ["23:0:6", "17:0:0", true],
    ["23:0:6", "16:0:0", false],
    ["23:0:6", "24:0:1", true],
    ["23:0:6", "25:0:1", false],
    ["23:0:6", "30:0:0", false],
    ["23:0:6", "30:2:7", true],
    ["23:0:6", "garbage", false],
    ["23:0:6", "", false],
    ["23:0:6", "23:0", false],
    ["23:0:6", "1:0:2", false],
    ["nonsense", "23:0:6", false],
  ] as const)("%s vs %s -> %s", (mine, theirs, ok) => {
    expect(isProtocolCompatible(mine, theirs)).toBe(ok);
  });

  it("parses current:revision:age and refuses anything else", () => {
    expect(parseProtocolVersion("23:0:6")).toEqual({ current: 23, revision: 0, age: 6 });
    expect(parseProtocolVersion("0:0:0")).toEqual({ current: 0, revision: 0, age: 0 });
    for (const bad of ["", "23", "23:0", "23:0:6:1", "a:b:c", "-1:0:0", "23:0:24", " 23:0:6", "23.0.6"]) {
      expect(parseProtocolVersion(bad)).toBeUndefined();
    }
    expect(ENGINE_EXCHANGE_PROTOCOL_VERSION).toBe("23:0:6");
  });
});

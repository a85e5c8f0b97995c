import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { decodeCrock } from "../src/codec/crockford.ts";
import { eddsaVerify } from "../src/codec/keys.ts";
import { startSyncServer, type SyncServer, type SyncServerOptions } from "../src/transport/sync-server.ts";
import { syncSignaturePayload, ZERO_HASH } from "../src/transport/sync-protocol.ts";
import { findPostgres, startPostgres, type PostgresServer } from "./support/postgres.ts";
import {
  blobOf,
  hashOf,
  json,
  newAccount,
  raw,
  rawTcp,
  sign,
  uploadHeaders,
  type RawResponse,
  type TestAccount,
} from "./support/sync-http.ts";

type BackendName = "lmdb" | "postgres";
const pgFound = findPostgres();
if (!pgFound.ok) console.warn(`sync-server tests: the PostgreSQL backend is skipped: ${pgFound.reason}`);
const backends: { name: BackendName; available: boolean }[] = [
  { name: "lmdb", available: true },
  { name: "postgres", available: pgFound.ok },
];

const EC = {
  METHOD: 20,
  ENDPOINT: 21,
  PARAM: 26,
  ACCOUNT_UNKNOWN: 6100,
  BAD_IF_NONE_MATCH: 6101,
  BAD_IF_MATCH: 6102,
  BAD_SIGNATURE_HEADER: 6103,
  INVALID_SIGNATURE: 6104,
  TOO_LARGE: 6106,
  INVALID_UPLOAD: 6108,
  PREVIOUS_UNKNOWN: 6111,
  PAYMENT: 6199,
} as const;

function header(r: RawResponse, name: string): string | undefined {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(", ") : v;
}

function expectJsonError(r: RawResponse, status: number, code: number): void {
  expect(r.status).toBe(status);
  expect(header(r, "content-type")).toMatch(/^application\/json/);
  const body = json(r);
  expect(body.code).toBe(code);
  expect(typeof body.hint).toBe("string");
}

describe.each(backends)("sync server protocol on $name", ({ name, available }) => {
  const maybe = available ? describe : describe.skip;
  maybe(`${name} backend`, () => {
    let pgServer: PostgresServer | undefined;
    const dirs: string[] = [];
    let running: SyncServer[] = [];

    beforeAll(async () => {
      if (name === "postgres") pgServer = await startPostgres();
    });
    afterEach(async () => {
      await Promise.all(running.map((s) => s.close()));
      running = [];
    });
    afterAll(async () => {
      await pgServer?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    type Location = { path: string; postgres?: string };
    async function location(): Promise<Location> {
      const path = mkdtempSync(join(tmpdir(), "sync-server-test-"));
      dirs.push(path);
      if (pgServer === undefined) return { path };
      return { path, postgres: await pgServer.createDatabase() };
    }

    async function start(opts: Partial<SyncServerOptions> = {}, loc?: Location): Promise<SyncServer & { loc: Location }> {
      const l = loc ?? (await location());
      const s = await startSyncServer({ port: 0, ...l, ...opts });
      running.push(s);
      return { ...s, loc: l };
    }

    const backupUrl = (s: SyncServer, a: TestAccount | string) => `${s.baseUrl}backups/${typeof a === "string" ? a : a.pub}`;

    function upload(s: SyncServer, a: TestAccount, blob: Uint8Array, prev?: string, extra: Record<string, string> = {}) {
      return raw(backupUrl(s, a), { method: "POST", headers: { ...uploadHeaders(a, blob, prev), ...extra }, body: blob });
    }

    it("GET /config describes a sync service", async () => {
      const s = await start({ storageLimitInMegabytes: 2 });
      const r = await raw(`${s.baseUrl}config`);
      expect(r.status).toBe(200);
      expect(header(r, "access-control-allow-origin")).toBe("*");
      expect(json(r)).toEqual({
        name: "sync",
        version: "2:0:0",
        storage_limit_in_megabytes: 2,
        annual_fee: "KUDOS:0",
        liability_limit: "KUDOS:0",
      });
      const paid = await start({ annualFee: "TESTKUDOS:0.5" });
      expect(json(await raw(`${paid.baseUrl}config`))).toMatchObject({ annual_fee: "TESTKUDOS:0.5", liability_limit: "TESTKUDOS:0" });
    });

    it("GET answers 404 for an unknown account, 204 for a known one without backup, 400 for a malformed key", async () => {
      const s = await start();
      const a = newAccount();
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);
      await s.markPaid(a.pub);
      const r = await raw(backupUrl(s, a));
      expect(r.status).toBe(204);
      expect(r.body.length).toBe(0);
      for (const bad of ["abc", a.pub.slice(0, 51), `${a.pub}0`, `${a.pub.slice(0, 51)}!`, "%00"]) {
        expectJsonError(await raw(backupUrl(s, bad)), 400, EC.PARAM);
      }
    });

    it("stores a first upload (204) and serves it with ETag, Sync-Signature and Sync-Previous (all zeros until it is replaced)", async () => {
      const s = await start();
      const a = newAccount();
      const first = blobOf("first backup", 3000);
      // Signed with codec/keys.ts (tweetnacl), checked by the server through node's Ed25519: one signature scheme.
      const slowlySigned = await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, first, undefined, { slow: true }), body: first });
      expect(slowlySigned.status).toBe(204);
      const g1 = await raw(backupUrl(s, a));
      expect(g1.status).toBe(200);
      expect(new Uint8Array(g1.body)).toEqual(first);
      expect(header(g1, "etag")).toBe(`"${hashOf(first)}"`);
      expect(header(g1, "sync-previous")).toBe(ZERO_HASH);
      expect(header(g1, "content-type")).toBe("application/octet-stream");
      const sig1 = header(g1, "sync-signature") as string;
      expect(eddsaVerify(syncSignaturePayload(undefined, hashOf(first)), decodeCrock(sig1), decodeCrock(a.pub))).toBe(true);

      const second = blobOf("second backup", 5000);
      expect((await upload(s, a, second, hashOf(first))).status).toBe(204);
      const g2 = await raw(backupUrl(s, a));
      expect(new Uint8Array(g2.body)).toEqual(second);
      expect(header(g2, "etag")).toBe(`"${hashOf(second)}"`);
      expect(header(g2, "sync-previous")).toBe(hashOf(first));
      const sig2 = header(g2, "sync-signature") as string;
      expect(eddsaVerify(syncSignaturePayload(hashOf(first), hashOf(second)), decodeCrock(sig2), decodeCrock(a.pub))).toBe(true);
      // A conditional GET with the current hash: nothing new.
      const cond = await raw(backupUrl(s, a), { headers: { "If-None-Match": `"${hashOf(second)}"` } });
      expect(cond.status).toBe(304);
    });

    it("an account key in lower case or with Crockford aliases names the same account", async () => {
      const s = await start();
      const a = newAccount();
      const blob = blobOf("aliases");
      expect((await upload(s, a, blob)).status).toBe(204);
      const r = await raw(backupUrl(s, a.pub.toLowerCase()));
      expect(r.status).toBe(200);
      expect(new Uint8Array(r.body)).toEqual(blob);
    });

    it("413 by Content-Length before reading the body, also when the client waits for 100-continue", async () => {
      const s = await start({ storageLimitInMegabytes: 1 });
      const a = newAccount();
      const big = blobOf("too big", 1024 * 1024 + 1);
      expectJsonError(await upload(s, a, big), 413, EC.TOO_LARGE);
      // Size comes first: even without any of the required headers.
      expectJsonError(await raw(backupUrl(s, a), { method: "POST", body: big }), 413, EC.TOO_LARGE);
      const waiting = await raw(backupUrl(s, a), {
        method: "POST",
        headers: { ...uploadHeaders(a, big), Expect: "100-continue", "Content-Length": String(big.length) },
      });
      expectJsonError(waiting, 413, EC.TOO_LARGE);
      // Exactly the limit is accepted.
      const exact = blobOf("exactly the limit", 1024 * 1024);
      expect((await upload(s, a, exact)).status).toBe(204);
      expect((await raw(backupUrl(s, a))).status).toBe(200);
    });

    it("413 for a chunked body as soon as it passes the limit; a chunked body within it is stored", async () => {
      const s = await start({ storageLimitInMegabytes: 1 });
      const a = newAccount();
      const chunk = blobOf("chunk", 64 * 1024);
      const over = Array.from({ length: 24 }, () => chunk); // 1.5 MiB
      const overAll = Buffer.concat(over);
      const r = await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, overAll), body: over });
      expectJsonError(r, 413, EC.TOO_LARGE);
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);

      const within = [blobOf("part one", 1000), blobOf("part two", 2000)];
      const whole = Buffer.concat(within);
      const ok = await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, whole), body: within });
      expect(ok.status).toBe(204);
      expect(new Uint8Array((await raw(backupUrl(s, a))).body)).toEqual(new Uint8Array(whole));
    });

    const malformed: [string, (h: Record<string, string>) => void, number][] = [
      ["If-None-Match missing", (h) => {
        delete h["If-None-Match"];
      }, EC.BAD_IF_NONE_MATCH],
      ["If-None-Match not a hash", (h) => {
        h["If-None-Match"] = '"abc"';
      }, EC.BAD_IF_NONE_MATCH],
      ["If-None-Match with a bad character", (h) => {
        h["If-None-Match"] = h["If-None-Match"].replace(/^"./, '"!');
      }, EC.BAD_IF_NONE_MATCH],
      ["If-None-Match weak", (h) => {
        h["If-None-Match"] = `W/${h["If-None-Match"]}`;
      }, EC.BAD_IF_NONE_MATCH],
      ["If-Match not a hash", (h) => {
        h["If-Match"] = "*";
      }, EC.BAD_IF_MATCH],
      ["If-Match one character short", (h) => {
        h["If-Match"] = ZERO_HASH.slice(1);
      }, EC.BAD_IF_MATCH],
      ["Sync-Signature missing", (h) => {
        delete h["Sync-Signature"];
      }, EC.BAD_SIGNATURE_HEADER],
      ["Sync-Signature not a signature", (h) => {
        h["Sync-Signature"] = "nonsense";
      }, EC.BAD_SIGNATURE_HEADER],
    ];
    it.each(malformed)("400 when %s", async (_what, mutate, code) => {
      const s = await start();
      const a = newAccount();
      const blob = blobOf("malformed headers");
      const headers = uploadHeaders(a, blob);
      mutate(headers);
      expectJsonError(await raw(backupUrl(s, a), { method: "POST", headers, body: blob }), 400, code);
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);
    });

    it("accepts hashes quoted and unquoted (GNU Taler's 2021–2022 wallets sent them bare) and ?fresh=yes", async () => {
      const s = await start();
      const a = newAccount();
      const b1 = blobOf("bare hashes");
      const r1 = await raw(`${backupUrl(s, a)}?fresh=yes`, { method: "POST", headers: uploadHeaders(a, b1, undefined, { quoted: false }), body: b1 });
      expect(r1.status).toBe(204);
      const b2 = blobOf("bare if-match");
      expect((await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, b2, hashOf(b1), { quoted: false }), body: b2 })).status).toBe(204);
      const b3 = blobOf("quoted again");
      expect((await upload(s, a, b3, hashOf(b2))).status).toBe(204);
      expect(header(await raw(backupUrl(s, a)), "sync-previous")).toBe(hashOf(b2));
    });

    it("an all-zero If-Match is a first upload, as in GNU's sync", async () => {
      const s = await start();
      const a = newAccount();
      const blob = blobOf("zeros");
      expect((await upload(s, a, blob, ZERO_HASH)).status).toBe(204);
      expect(header(await raw(backupUrl(s, a)), "sync-previous")).toBe(ZERO_HASH);
    });

    it("403 for a signature over other hashes or by another key; nothing stored", async () => {
      const s = await start();
      const a = newAccount();
      const other = newAccount();
      const blob = blobOf("signed wrong");
      const overOther = { ...uploadHeaders(a, blob), "Sync-Signature": sign(a, hashOf(blobOf("x")), hashOf(blob)) };
      expectJsonError(await raw(backupUrl(s, a), { method: "POST", headers: overOther, body: blob }), 403, EC.INVALID_SIGNATURE);
      const byOther = { ...uploadHeaders(a, blob), "Sync-Signature": sign(other, undefined, hashOf(blob)) };
      expectJsonError(await raw(backupUrl(s, a), { method: "POST", headers: byOther, body: blob }), 403, EC.INVALID_SIGNATURE);
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);
    });

    it("402 with a Taler pay URI while the annual fee is unpaid (after the signature, before any conflict); 204 after payment", async () => {
      const s = await start({ annualFee: "KUDOS:1" });
      const a = newAccount();
      const blob = blobOf("paid backup");
      const r = await upload(s, a, blob);
      expectJsonError(r, 402, EC.PAYMENT);
      expect(header(r, "taler")).toMatch(/^taler:\/\/pay\//);
      expect(header(r, "access-control-expose-headers")).toMatch(/Taler/);
      // A bad signature is refused before payment is asked for.
      const forged = { ...uploadHeaders(a, blob), "Sync-Signature": sign(newAccount(), undefined, hashOf(blob)) };
      expectJsonError(await raw(backupUrl(s, a), { method: "POST", headers: forged, body: blob }), 403, EC.INVALID_SIGNATURE);
      // Payment before compare-and-swap: an unpaid If-Match to nowhere is still a 402.
      expectJsonError(await upload(s, a, blob, hashOf(blobOf("nowhere"))), 402, EC.PAYMENT);
      await s.markPaid(a.pub);
      expect((await raw(backupUrl(s, a))).status).toBe(204);
      expect((await upload(s, a, blob)).status).toBe(204);
      expect(new Uint8Array((await raw(backupUrl(s, a))).body)).toEqual(blob);
    });

    it("409 with the stored blob and a GET's headers when If-Match is stale or absent", async () => {
      const s = await start();
      const a = newAccount();
      const b1 = blobOf("one", 2000);
      const b2 = blobOf("two", 2000);
      expect((await upload(s, a, b1)).status).toBe(204);
      expect((await upload(s, a, b2, hashOf(b1))).status).toBe(204);
      for (const prev of [undefined, hashOf(b1)]) {
        const r = await upload(s, a, blobOf("three"), prev);
        expect(r.status).toBe(409);
        expect(new Uint8Array(r.body)).toEqual(b2);
        expect(header(r, "etag")).toBe(`"${hashOf(b2)}"`);
        expect(header(r, "sync-previous")).toBe(hashOf(b1));
        const sig = header(r, "sync-signature") as string;
        expect(eddsaVerify(syncSignaturePayload(hashOf(b1), hashOf(b2)), decodeCrock(sig), decodeCrock(a.pub))).toBe(true);
      }
      // The conflict comes before the body check: a stale If-Match with a body that is not its hash is still 409.
      const wrongBody = await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, blobOf("claimed"), hashOf(b1)), body: blobOf("sent") });
      expect(wrongBody.status).toBe(409);
      expect(new Uint8Array((await raw(backupUrl(s, a))).body)).toEqual(b2);
    });

    it("409 with a JSON error when If-Match names a backup the account does not have", async () => {
      const s = await start();
      const a = newAccount();
      expectJsonError(await upload(s, a, blobOf("orphan"), hashOf(blobOf("never stored"))), 409, EC.PREVIOUS_UNKNOWN);
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);
    });

    it("304 when the upload is the stored backup itself", async () => {
      const s = await start();
      const a = newAccount();
      const blob = blobOf("same");
      expect((await upload(s, a, blob)).status).toBe(204);
      const r = await upload(s, a, blob, hashOf(blob));
      expect(r.status).toBe(304);
      expect(r.body.length).toBe(0);
      expect(header(await raw(backupUrl(s, a)), "sync-previous")).toBe(ZERO_HASH);
    });

    it("400 when the body's hash is not If-None-Match; nothing stored", async () => {
      const s = await start();
      const a = newAccount();
      const claimed = blobOf("claimed");
      const r = await raw(backupUrl(s, a), { method: "POST", headers: uploadHeaders(a, claimed), body: blobOf("something else") });
      expectJsonError(r, 400, EC.INVALID_UPLOAD);
      expectJsonError(await raw(backupUrl(s, a)), 404, EC.ACCOUNT_UNKNOWN);
    });

    it("answers CORS preflights and exposes the sync headers", async () => {
      const s = await start();
      const a = newAccount();
      const pre = await raw(backupUrl(s, a), {
        method: "OPTIONS",
        headers: { Origin: "https://wallet.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "if-match, sync-signature" },
      });
      expect(pre.status).toBe(204);
      expect(header(pre, "access-control-allow-origin")).toBe("*");
      expect(header(pre, "access-control-allow-methods")).toMatch(/POST/);
      expect(header(pre, "access-control-allow-headers")).toMatch(/Sync-Signature/);
      expect(header(pre, "access-control-allow-headers")).toMatch(/If-Match/);
      expect((await raw(`${s.baseUrl}config`, { method: "OPTIONS" })).status).toBe(204);
      await upload(s, a, blobOf("cors"));
      const g = await raw(backupUrl(s, a), { headers: { Origin: "https://wallet.example" } });
      expect(header(g, "access-control-expose-headers")).toMatch(/ETag/);
      expect(header(g, "access-control-expose-headers")).toMatch(/Sync-Signature/);
      expect(header(g, "access-control-expose-headers")).toMatch(/Sync-Previous/);
    });

    it("unknown paths are 404 JSON, wrong methods 405 JSON with Allow", async () => {
      const s = await start();
      expectJsonError(await raw(`${s.baseUrl}nothing-here`), 404, EC.ENDPOINT);
      expectJsonError(await raw(`${s.baseUrl}backups/`), 400, EC.PARAM);
      expectJsonError(await raw(`${s.baseUrl}backups/a/b`), 404, EC.ENDPOINT);
      const put = await raw(backupUrl(s, newAccount()), { method: "PUT", body: blobOf("x") });
      expectJsonError(put, 405, EC.METHOD);
      expect(header(put, "allow")).toMatch(/POST/);
      expectJsonError(await raw(`${s.baseUrl}config`, { method: "POST", body: blobOf("x") }), 405, EC.METHOD);
      expectJsonError(await raw(`${s.baseUrl}config`, { method: "DELETE" }), 405, EC.METHOD);
    });

    it("survives hostile input: broken HTTP gets a 400 JSON, slow headers a 408, and the server keeps serving", async () => {
      const s = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
      const u = new URL(s.baseUrl);
      const garbage = await rawTcp(u.hostname, Number(u.port), "\x00\x01\x02 not http at all\r\n\r\n");
      expect(garbage).toMatch(/^HTTP\/1\.1 400/);
      expect(garbage).toMatch(/"code":26/);
      const badLength = await rawTcp(u.hostname, Number(u.port), "POST /config HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
      expect(badLength).toMatch(/^HTTP\/1\.1 400/);
      const slow = await rawTcp(u.hostname, Number(u.port), "GET /config HTTP/1.1\r\nHost: x\r\n");
      expect(slow).toMatch(/^HTTP\/1\.1 408/);
      expect(slow).toMatch(/"code":/);
      const longPath = await raw(`${s.baseUrl}backups/${"A".repeat(5000)}`);
      expectJsonError(longPath, 400, EC.PARAM);
      expect((await raw(`${s.baseUrl}//evil.example/config`)).status).toBe(404);
      expect((await raw(`${s.baseUrl}config`)).status).toBe(200);
    });

    it("writes one log line per request: method, path, status, bytes, time", async () => {
      const lines: string[] = [];
      const s = await start({ log: (l) => lines.push(l) });
      const a = newAccount();
      await raw(`${s.baseUrl}config`);
      await upload(s, a, blobOf("logged", 1234));
      await raw(backupUrl(s, a));
      await raw(`${s.baseUrl}nope`);
      await s.close();
      expect(lines).toHaveLength(4);
      expect(lines[0]).toMatch(/^GET \/config 200 in=0B out=\d+B [\d.]+ms$/);
      expect(lines[1]).toMatch(new RegExp(`^POST /backups/${a.pub} 204 in=1234B out=0B [\\d.]+ms$`));
      expect(lines[2]).toMatch(new RegExp(`^GET /backups/${a.pub} 200 in=0B out=1234B [\\d.]+ms$`));
      expect(lines[3]).toMatch(/^GET \/nope 404 /);
    });

    it("keeps backups across a restart on the same store", async () => {
      const first = await start();
      const a = newAccount();
      const b1 = blobOf("persisted one", 10_000);
      const b2 = blobOf("persisted two", 10_000);
      expect((await upload(first, a, b1)).status).toBe(204);
      expect((await upload(first, a, b2, hashOf(b1))).status).toBe(204);
      const paidAccount = newAccount();
      await first.markPaid(paidAccount.pub);
      await first.close();
      const second = await start({}, first.loc);
      const g = await raw(backupUrl(second, a));
      expect(g.status).toBe(200);
      expect(new Uint8Array(g.body)).toEqual(b2);
      expect(header(g, "sync-previous")).toBe(hashOf(b1));
      expect((await raw(backupUrl(second, paidAccount))).status).toBe(204);
      expect((await upload(second, a, blobOf("after restart"), hashOf(b2))).status).toBe(204);
    });

    if (name === "postgres") {
      it("a failing database is a 500 JSON without its error text, and is logged", async () => {
        const lines: string[] = [];
        const s = await start({ log: (l) => lines.push(l) });
        const a = newAccount();
        const admin = new pg.Client({ connectionString: s.loc.postgres });
        await admin.connect();
        await admin.query("DROP TABLE sync_accounts");
        await admin.end();
        const g = await raw(backupUrl(s, a));
        expectJsonError(g, 500, 53);
        expect(g.body.toString()).not.toMatch(/sync_accounts|relation|SQLSTATE/);
        const p = await upload(s, a, blobOf("into the void"));
        expect(p.status).toBe(500);
        expect(lines.some((l) => /sync-store-failed/.test(l))).toBe(true);
      });

      it("refuses to start when the database cannot be reached, with a WalletError", async () => {
        const path = (await location()).path;
        await expect(startSyncServer({ port: 0, path, postgres: "postgres://postgres@127.0.0.1:1/none" })).rejects.toMatchObject({
          code: "sync-store-unavailable",
        });
      });
    }

    it("20 concurrent writers on one account: one winner per previous hash, no lost update", async () => {
      const s = await start();
      const a = newAccount();
      const url = backupUrl(s, a);
      const WRITERS = 20;
      const ATTEMPTS = 8;
      // new hash → the hash it replaced ("" for the first).
      const winners = new Map<string, string>();
      const statuses = new Map<number, number>();
      const writer = async (w: number) => {
        let seen: string | undefined;
        for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
          const blob = blobOf(`writer ${w} attempt ${attempt}`, 256);
          const r = await raw(url, { method: "POST", headers: uploadHeaders(a, blob, seen), body: blob });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 204) {
            winners.set(hashOf(blob), seen ?? "");
            seen = hashOf(blob);
          } else if (r.status === 409) {
            // Retry against what the provider holds now.
            seen = hashOf(new Uint8Array(r.body));
            expect(header(r, "etag")).toBe(`"${seen}"`);
          } else {
            throw new Error(`writer ${w}: unexpected ${r.status} ${r.body.toString()}`);
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      expect([...statuses.keys()].sort()).toEqual(statuses.has(409) ? [204, 409] : [204]);
      expect((statuses.get(204) ?? 0) + (statuses.get(409) ?? 0)).toBe(WRITERS * ATTEMPTS);
      expect(winners.size).toBe(statuses.get(204));
      expect(winners.size).toBeGreaterThanOrEqual(ATTEMPTS);
      // Exactly one winner per previous hash: no fork in the chain.
      const prevs = [...winners.values()];
      expect(new Set(prevs).size).toBe(prevs.length);
      // The chain from the final backup back to the first holds every winner: no lost update.
      const final = await raw(url);
      let at = hashOf(new Uint8Array(final.body));
      expect(header(final, "sync-previous") ?? "").toBe(winners.get(at));
      let length = 0;
      while (at !== "" && length <= winners.size) {
        expect(winners.has(at)).toBe(true);
        at = winners.get(at) as string;
        length++;
      }
      expect(at).toBe("");
      expect(length).toBe(winners.size);
    });
  });
});

describe("sync-server command", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function runCli(args: string[]) {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/sync-server.ts", ...args], {
      cwd: join(import.meta.dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  }

  async function waitFor(predicate: () => boolean, what: string, ms = 30_000): Promise<void> {
    const until = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("keeps serving when the reader of its log goes away (sync-server | head -1)", async () => {
    const data = mkdtempSync(join(tmpdir(), "sync-cli-"));
    dirs.push(data);
    const cli = runCli(["--port", "0", "--data", data]);
    await waitFor(() => cli.out().includes("\n"), "the first line");
    const baseUrl = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cli.out())?.[1];
    // The reader closes its end: every later log line meets EPIPE.
    cli.child.stdout.destroy();
    for (let i = 0; i < 3; i++) expect(json(await raw(`${baseUrl}config`))).toMatchObject({ name: "sync" });
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    expect(cli.err()).toBe("");
  });

  it("prints its base URL, logs one line per request, and exits 0 on SIGTERM", async () => {
    const data = mkdtempSync(join(tmpdir(), "sync-cli-"));
    dirs.push(data);
    const cli = runCli(["--port", "0", "--data", data, "--storage-limit-mb", "4"]);
    await waitFor(() => cli.out().includes("\n"), "the first line");
    const first = cli.out().split("\n")[0];
    const baseUrl = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(first)?.[1];
    expect(baseUrl).toBeDefined();
    const cfg = await raw(`${baseUrl}config`);
    expect(json(cfg)).toMatchObject({ name: "sync", storage_limit_in_megabytes: 4 });
    const a = newAccount();
    await raw(`${baseUrl}backups/${a.pub}`);
    await waitFor(() => cli.out().split("\n").length >= 4, "two log lines");
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    const lines = cli.out().trim().split("\n");
    const requestLines = lines.filter((l) => /^(GET|POST|HEAD|OPTIONS) /.test(l));
    expect(requestLines).toHaveLength(2);
    expect(requestLines[0]).toMatch(/^GET \/config 200 /);
    expect(requestLines[1]).toMatch(/^GET \/backups\/\S+ 404 /);
    expect(lines.at(-1)).toMatch(/stopped/);
    expect(cli.err()).toBe("");
  });

  // Each child pays tsx's start-up: run them side by side.
  it.concurrent.each([
    [["--port", "0"], /--data/],
    [["--port", "abc", "--data", "/tmp/x"], /--port/],
    [["--data", "/tmp/x", "--bogus"], /bogus/],
    [["--data", "/tmp/x", "--annual-fee", "lots"], /--annual-fee/],
    [["--data", "/tmp/x", "--storage-limit-mb", "-1"], /--storage-limit-mb/],
    [["--data", "/tmp/x", "--storage-limit-mb", "2000"], /--storage-limit-mb/],
    // Above 500 MiB PostgreSQL could store a backup it cannot read back: refused for both stores.
    [["--data", "/tmp/x", "--storage-limit-mb", "501"], /--storage-limit-mb/],
    [["--data", ""], /--data/],
    [["--data", "/tmp/x", "--host", ""], /--host/],
  ])("exits 2 with one line for bad arguments %j", async (args, pattern) => {
    const cli = runCli(args);
    expect(await cli.exited).toBe(2);
    const err = cli.err().trim();
    expect(err.split("\n")).toHaveLength(1);
    expect(err).toMatch(pattern);
    expect(cli.out()).toBe("");
  });
});

describe("startSyncServer options", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "sync-opts-"));
    dirs.push(d);
    return d;
  };

  it.each<[string, (path: string) => unknown]>([
    ["no options object", () => undefined],
    ["a port beyond 65535", (path) => ({ path, port: 70_000 })],
    ["a fractional port", (path) => ({ path, port: 80.5 })],
    ["an empty host", (path) => ({ path, host: "" })],
    ["a log that is no function", (path) => ({ path, log: "stderr" })],
    ["a fractional request timeout", (path) => ({ path, requestTimeoutMs: 1.5 })],
    ["a request timeout beyond Node's timers", (path) => ({ path, requestTimeoutMs: 2 ** 31 })],
    ["a headers timeout of NaN", (path) => ({ path, headersTimeoutMs: Number.NaN })],
    ["an infinite storage limit", (path) => ({ path, storageLimitInMegabytes: Number.POSITIVE_INFINITY })],
    ["a fee that is no amount", (path) => ({ path, annualFee: "five" })],
    ["a liability limit that is no string", (path) => ({ path, liabilityLimit: 5 })],
    ["an empty postgres URL", (path) => ({ path, postgres: "" })],
  ])("%s is sync-server-invalid-option, and the data directory stays empty", async (_, options) => {
    const path = join(dir(), "store");
    await expect(startSyncServer(options(path) as SyncServerOptions)).rejects.toMatchObject({ code: "sync-server-invalid-option" });
    expect(existsSync(path)).toBe(false);
  });

  it("the largest timers Node takes are accepted", async () => {
    const s = await startSyncServer({ path: join(dir(), "store"), requestTimeoutMs: 2 ** 31 - 1, headersTimeoutMs: 2 ** 31 - 1 });
    await s.close();
  });
});

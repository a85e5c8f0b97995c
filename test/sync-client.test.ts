import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeCrock, encodeCrock } from "../src/codec/crockford.ts";
import { kdf } from "../src/codec/kdf.ts";
import { eddsaPublicFromSeed, eddsaVerify, randomBytes } from "../src/codec/keys.ts";
import type { HttpClient } from "../src/transport/exchange-client.ts";
import {
  deriveSyncAccountKey,
  syncDownload,
  syncGetConfig,
  syncSignaturePayload,
  syncUpload,
  SYNC_PURPOSE_BACKUP_UPLOAD,
  type SyncUploadResult,
} from "../src/transport/sync-client.ts";
import { signSyncUpload, ZERO_HASH } from "../src/transport/sync-protocol.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { codeOf } from "./support/error-code.ts";
import { blobOf, hashOf } from "./support/sync-http.ts";

const http: HttpClient = (url, init) => fetch(url, init);

function kindOf(r: { kind: string; code?: string }): string {
  return r.kind === "error" ? `error:${r.code}` : r.kind;
}

describe("sync account keys and the signed struct", () => {
  it("derives the account key with Taler's kdf over the canonical provider URL", () => {
    const root = randomBytes(32);
    const k = deriveSyncAccountKey(root, "HTTP://Sync.Example:8080/base");
    const expected = kdf(32, root, "taler-sync-account-key-salt", "http://sync.example:8080/base/");
    expect(k.seed).toEqual(expected);
    expect(k.pub).toBe(encodeCrock(eddsaPublicFromSeed(expected)));
    expect(k.pub).toHaveLength(52);
    // One canonical URL, one account; another provider, another account.
    expect(deriveSyncAccountKey(root, "http://sync.example:8080/base/").pub).toBe(k.pub);
    expect(deriveSyncAccountKey(root, "http://other.example/").pub).not.toBe(k.pub);
    expect(deriveSyncAccountKey(randomBytes(32), "http://sync.example:8080/base/").pub).not.toBe(k.pub);
  });

  it("refuses a root seed that is not 32 bytes and a URL that is not one", () => {
    expect(codeOf(() => deriveSyncAccountKey(new Uint8Array(31), "http://x.example/"))).toBe("key-invalid-seed");
    expect(codeOf(() => deriveSyncAccountKey(randomBytes(32), "ftp://x.example/"))).toBe("url-invalid");
  });

  it("builds the 136-byte struct: size 136, purpose 1450, old hash (zeros when none), new hash", () => {
    const oldHash = hashOf(blobOf("old"));
    const newHash = hashOf(blobOf("new"));
    const p = syncSignaturePayload(oldHash, newHash);
    expect(p).toHaveLength(136);
    expect([...p.slice(0, 8)]).toEqual([0, 0, 0, 136, 0, 0, 0x05, 0xaa]);
    expect(SYNC_PURPOSE_BACKUP_UPLOAD).toBe(1450);
    expect(p.slice(8, 72)).toEqual(decodeCrock(oldHash));
    expect(p.slice(72, 136)).toEqual(decodeCrock(newHash));
    const first = syncSignaturePayload(undefined, newHash);
    expect(first.slice(8, 72)).toEqual(new Uint8Array(64));
    expect(syncSignaturePayload(ZERO_HASH, newHash)).toEqual(first);
    expect(() => syncSignaturePayload(oldHash, "ABC")).toThrow(RangeError);
  });

  it("signs with node's Ed25519 what tweetnacl verifies (one scheme, two implementations)", () => {
    const seed = randomBytes(32);
    const newHash = hashOf(blobOf("cross-check"));
    const sig = signSyncUpload(seed, undefined, newHash);
    expect(eddsaVerify(syncSignaturePayload(undefined, newHash), decodeCrock(sig), eddsaPublicFromSeed(seed))).toBe(true);
  });
});

describe("sync client against the sync server", () => {
  const dirs: string[] = [];
  let servers: SyncServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function start(opts: { annualFee?: string; storageLimitInMegabytes?: number } = {}): Promise<SyncServer> {
    const path = mkdtempSync(join(tmpdir(), "sync-client-test-"));
    dirs.push(path);
    const s = await startSyncServer({ port: 0, path, ...opts });
    servers.push(s);
    return s;
  }

  function account(s: SyncServer) {
    return deriveSyncAccountKey(randomBytes(32), s.baseUrl);
  }

  it("reads the provider's configuration", async () => {
    const s = await start({ annualFee: "KUDOS:0.25", storageLimitInMegabytes: 3 });
    const r = await syncGetConfig(http, s.baseUrl);
    expect(r).toEqual({
      kind: "ok",
      name: "sync",
      version: "2:0:0",
      storageLimitInMegabytes: 3,
      annualFee: "KUDOS:0.25",
      liabilityLimit: "KUDOS:0",
    });
  });

  it("downloads nothing from an unknown account (404) and from a paid account without backup (204)", async () => {
    const s = await start();
    const k = account(s);
    expect(await syncDownload(http, s.baseUrl, k.seed)).toEqual({ kind: "none" });
    await s.markPaid(k.pub);
    expect(await syncDownload(http, s.baseUrl, k.seed)).toEqual({ kind: "none" });
  });

  it("stores, downloads verified, replaces with ifMatch, and reports an unchanged upload as not-modified", async () => {
    const s = await start();
    const k = account(s);
    const b1 = blobOf("client one", 4096);
    const up1 = await syncUpload(http, s.baseUrl, k.seed, b1);
    expect(up1).toEqual({ kind: "stored", hash: hashOf(b1) });
    const d1 = await syncDownload(http, s.baseUrl, k.seed);
    expect(d1.kind).toBe("ok");
    if (d1.kind !== "ok") return;
    expect(d1.blob).toEqual(b1);
    expect(d1.hash).toBe(hashOf(b1));
    expect(d1.prevHash).toBeUndefined();

    const b2 = blobOf("client two", 4096);
    expect(await syncUpload(http, s.baseUrl, k.seed, b2, { ifMatch: d1.hash })).toEqual({ kind: "stored", hash: hashOf(b2) });
    const d2 = await syncDownload(http, s.baseUrl, k.seed);
    expect(d2).toMatchObject({ kind: "ok", hash: hashOf(b2), prevHash: hashOf(b1) });
    expect(await syncUpload(http, s.baseUrl, k.seed, b2, { ifMatch: hashOf(b2) })).toEqual({ kind: "not-modified", hash: hashOf(b2) });
  });

  it("gives the provider's verified backup on a conflict, and succeeds when retried against its hash", async () => {
    const s = await start();
    const k = account(s);
    const theirs = blobOf("other device", 1000);
    expect((await syncUpload(http, s.baseUrl, k.seed, theirs)).kind).toBe("stored");
    const mine = blobOf("this device", 1000);
    const c = await syncUpload(http, s.baseUrl, k.seed, mine);
    expect(c.kind).toBe("conflict");
    if (c.kind !== "conflict") return;
    expect(c.blob).toEqual(theirs);
    expect(c.hash).toBe(hashOf(theirs));
    const stale = await syncUpload(http, s.baseUrl, k.seed, mine, { ifMatch: hashOf(blobOf("long gone")) });
    expect(stale).toMatchObject({ kind: "conflict", hash: hashOf(theirs) });
    expect(await syncUpload(http, s.baseUrl, k.seed, mine, { ifMatch: c.hash })).toEqual({ kind: "stored", hash: hashOf(mine) });
  });

  it("reports payment required with the pay URI, and stores once paid", async () => {
    const s = await start({ annualFee: "KUDOS:1" });
    const k = account(s);
    const blob = blobOf("to be paid for");
    const r = await syncUpload(http, s.baseUrl, k.seed, blob);
    expect(r.kind).toBe("payment-required");
    if (r.kind === "payment-required") expect(r.talerUri).toMatch(/^taler:\/\/pay\//);
    await s.markPaid(k.pub);
    expect(kindOf(await syncUpload(http, s.baseUrl, k.seed, blob))).toBe("stored");
  });

  it("names each refusal: too large, previous backup unknown, invalid ifMatch, invalid URL, unreachable provider", async () => {
    const s = await start({ storageLimitInMegabytes: 1 });
    const k = account(s);
    const big = blobOf("too big", 1024 * 1024 + 10);
    const tooBig = await syncUpload(http, s.baseUrl, k.seed, big);
    expect(tooBig).toMatchObject({ kind: "error", code: "sync-backup-too-large", httpStatus: 413 });
    const orphan = await syncUpload(http, s.baseUrl, k.seed, blobOf("orphan"), { ifMatch: hashOf(blobOf("nothing")) });
    expect(orphan).toMatchObject({ kind: "error", code: "sync-previous-backup-unknown", httpStatus: 409 });
    expect(kindOf(await syncUpload(http, s.baseUrl, k.seed, blobOf("x"), { ifMatch: "not-a-hash" }))).toBe("error:sync-invalid-hash");
    expect(kindOf(await syncUpload(http, "ftp://nowhere/", k.seed, blobOf("x")))).toBe("error:url-invalid");
    expect(kindOf(await syncDownload(http, s.baseUrl, new Uint8Array(3)))).toBe("error:key-invalid-seed");
    const closed = await start();
    const closedUrl = closed.baseUrl;
    await closed.close();
    servers = servers.filter((x) => x !== closed);
    expect(kindOf(await syncDownload(http, closedUrl, k.seed))).toBe("error:sync-network-error");
    expect(kindOf(await syncGetConfig(http, closedUrl))).toBe("error:sync-network-error");
  });
});

/** A loopback server whose answers each test scripts: the provider that lies, stalls or is not a provider. */
describe("sync client against a hostile server", () => {
  let server: Server;
  let baseUrl: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      // Fresh connections only: fetch must not reuse a socket a previous test destroyed.
      res.setHeader("Connection", "close");
      handler(req, res);
    });
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("no address");
    baseUrl = `http://127.0.0.1:${addr.port}/`;
  });
  afterEach(() => {
    for (const s of sockets) s.destroy();
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function serveBackup(blob: Uint8Array, headers: Record<string, string>, status = 200) {
    handler = (req, res) => {
      req.resume();
      res.writeHead(status, { "Content-Type": "application/octet-stream", ...headers });
      res.end(blob);
    };
  }

  const victim = () => deriveSyncAccountKey(randomBytes(32), "http://127.0.0.1/");

  it("a blob signed by another key is sync-bad-signature, on a download and in a conflict", async () => {
    const k = victim();
    const attacker = randomBytes(32);
    const blob = blobOf("planted backup", 500);
    serveBackup(blob, { ETag: `"${hashOf(blob)}"`, "Sync-Signature": signSyncUpload(attacker, undefined, hashOf(blob)) });
    expect(await syncDownload(http, baseUrl, k.seed)).toMatchObject({ kind: "error", code: "sync-bad-signature" });
    serveBackup(blob, { ETag: `"${hashOf(blob)}"`, "Sync-Signature": signSyncUpload(attacker, undefined, hashOf(blob)) }, 409);
    expect(kindOf(await syncUpload(http, baseUrl, k.seed, blobOf("mine")))).toBe("error:sync-bad-signature");
  });

  it("the account's signature over another previous hash is sync-bad-signature", async () => {
    const k = victim();
    const blob = blobOf("rewired history");
    const sig = signSyncUpload(k.seed, hashOf(blobOf("a")), hashOf(blob));
    serveBackup(blob, { ETag: `"${hashOf(blob)}"`, "Sync-Signature": sig, "Sync-Previous": hashOf(blobOf("b")) });
    expect(kindOf(await syncDownload(http, baseUrl, k.seed))).toBe("error:sync-bad-signature");
  });

  it("reads GNU's 2021 headers: unquoted ETag, zero Sync-Previous for a first backup", async () => {
    const k = victim();
    const blob = blobOf("gnu style");
    serveBackup(blob, { ETag: hashOf(blob), "Sync-Signature": signSyncUpload(k.seed, undefined, hashOf(blob)), "Sync-Previous": ZERO_HASH });
    const r = await syncDownload(http, baseUrl, k.seed);
    expect(r).toMatchObject({ kind: "ok", hash: hashOf(blob) });
    if (r.kind === "ok") expect(r.prevHash).toBeUndefined();
  });

  it("an ETag that is not the body's hash is sync-bad-etag; a missing signature is malformed", async () => {
    const k = victim();
    const blob = blobOf("swapped body");
    serveBackup(blob, { ETag: `"${hashOf(blobOf("other"))}"`, "Sync-Signature": signSyncUpload(k.seed, undefined, hashOf(blob)) });
    expect(kindOf(await syncDownload(http, baseUrl, k.seed))).toBe("error:sync-bad-etag");
    serveBackup(blob, { ETag: `"${hashOf(blob)}"` });
    expect(kindOf(await syncDownload(http, baseUrl, k.seed))).toBe("error:sync-malformed-response");
  });

  it("a backup over maxBlobBytes is refused without reading it all", async () => {
    const k = victim();
    const blob = blobOf("huge", 200_000);
    serveBackup(blob, { ETag: `"${hashOf(blob)}"`, "Sync-Signature": signSyncUpload(k.seed, undefined, hashOf(blob)) });
    expect(kindOf(await syncDownload(http, baseUrl, k.seed, { maxBlobBytes: 100_000 }))).toBe("error:sync-backup-too-large");
  });

  it("a server that is not a sync provider is sync-not-a-provider", async () => {
    const answers: [number, string, string][] = [
      [200, "application/json", JSON.stringify({ name: "taler-exchange", version: "23:0:6" })],
      [200, "text/html", "<html>hello</html>"],
      [404, "text/plain", "not found"],
    ];
    for (const [status, type, body] of answers) {
      handler = (_req, res) => {
        res.writeHead(status, { "Content-Type": type });
        res.end(body);
      };
      expect(kindOf(await syncGetConfig(http, baseUrl))).toBe("error:sync-not-a-provider");
    }
  });

  it("402 without a Taler header and unexpected statuses are errors, with the provider's hint", async () => {
    const k = victim();
    handler = (req, res) => {
      req.resume();
      res.writeHead(402);
      res.end();
    };
    expect(kindOf(await syncUpload(http, baseUrl, k.seed, blobOf("x")))).toBe("error:sync-malformed-response");
    handler = (req, res) => {
      req.resume();
      res.writeHead(503, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ code: 1, hint: "down for maintenance" }));
    };
    const r = await syncUpload(http, baseUrl, k.seed, blobOf("x"));
    expect(r).toMatchObject({ kind: "error", code: "sync-http-error", httpStatus: 503 });
    expect((r as Extract<SyncUploadResult, { kind: "error" }>).message).toMatch(/down for maintenance/);
  });

  it("times out on a server that never answers and on one that stalls mid-body", async () => {
    const k = victim();
    handler = () => {
      // Never answers; afterEach destroys the socket.
    };
    expect(kindOf(await syncDownload(http, baseUrl, k.seed, { timeoutMs: 200 }))).toBe("error:sync-timeout");
    expect(kindOf(await syncUpload(http, baseUrl, k.seed, blobOf("x"), { timeoutMs: 200 }))).toBe("error:sync-timeout");
    expect(kindOf(await syncGetConfig(http, baseUrl, { timeoutMs: 200 }))).toBe("error:sync-timeout");
    handler = (_req, res) => {
      const sig = signSyncUpload(k.seed, undefined, ZERO_HASH);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": "1000", "Sync-Signature": sig });
      res.write(new Uint8Array(10)); // and then nothing
    };
    expect(kindOf(await syncDownload(http, baseUrl, k.seed, { timeoutMs: 200 }))).toBe("error:sync-timeout");
  });

  it("an HTTP function that ignores the abort signal still cannot make it hang", async () => {
    const k = victim();
    const stuck: HttpClient = () => new Promise<Response>(() => {});
    expect(kindOf(await syncDownload(stuck, baseUrl, k.seed, { timeoutMs: 100 }))).toBe("error:sync-timeout");
    const throwing: HttpClient = () => {
      throw new Error("no network here");
    };
    expect(kindOf(await syncUpload(throwing, baseUrl, k.seed, blobOf("x")))).toBe("error:sync-network-error");
  });
});

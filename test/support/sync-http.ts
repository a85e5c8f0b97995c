// Raw HTTP for the sync server's conformance tests: headers exactly as given,
// bodies by Content-Length or chunked, nothing through the sync client.
import { request } from "node:http";
import { connect } from "node:net";
import { encodeCrock } from "../../src/codec/crockford.ts";
import { sha512 } from "../../src/codec/hash.ts";
import { eddsaPublicFromSeed, eddsaSign, randomBytes } from "../../src/codec/keys.ts";
import { signSyncUpload, syncSignaturePayload } from "../../src/transport/sync-protocol.ts";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  /** One buffer: sent with Content-Length. A list: sent chunked, one write per item. */
  body?: Uint8Array | Uint8Array[];
}

/** One request on its own connection; resolves with the response even when the server answers before the body is sent. */
export function raw(url: string, req: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    const single = req.body instanceof Uint8Array ? req.body : undefined;
    if (single !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-length")) {
      headers["Content-Length"] = String(single.length);
    }
    const r = request(
      { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: req.method ?? "GET", headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    // Writing into a connection the server has stopped reading is not a failure of the test: the response decides.
    r.on("error", (e) => reject(e));
    if (single !== undefined) r.end(single);
    else if (Array.isArray(req.body)) {
      const list = req.body;
      const writeFrom = (i: number) => {
        if (i >= list.length) {
          r.end();
          return;
        }
        if (r.destroyed) return;
        r.write(list[i], () => writeFrom(i + 1));
      };
      writeFrom(0);
    } else r.end();
  });
}

/** Sends bytes on a plain TCP connection and collects whatever comes back until the server closes it. */
export function rawTcp(host: string, port: number, data: string, opts: { endAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host, port }, () => {
      s.write(data);
      if (opts.endAfterWrite === true) s.end();
    });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? undefined : reject(e)));
  });
}

export interface TestAccount {
  seed: Uint8Array;
  pub: string;
}

export function newAccount(): TestAccount {
  const seed = randomBytes(32);
  return { seed, pub: encodeCrock(eddsaPublicFromSeed(seed)) };
}

export function hashOf(blob: Uint8Array): string {
  return encodeCrock(sha512(blob));
}

/** Signed through node's Ed25519 (fast); `slow: true` signs with codec/keys.ts (tweetnacl) to cross-check the two. */
export function sign(account: TestAccount, oldHash: string | undefined, newHash: string, opts: { slow?: boolean } = {}): string {
  if (opts.slow === true) return encodeCrock(eddsaSign(syncSignaturePayload(oldHash, newHash), account.seed));
  return signSyncUpload(account.seed, oldHash, newHash);
}

/** Correct upload headers for `blob` replacing `prev` (quoted hashes unless told otherwise). */
export function uploadHeaders(
  account: TestAccount,
  blob: Uint8Array,
  prev?: string,
  opts: { quoted?: boolean; slow?: boolean } = {},
): Record<string, string> {
  const q = (h: string) => (opts.quoted === false ? h : `"${h}"`);
  const hash = hashOf(blob);
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "If-None-Match": q(hash),
    "Sync-Signature": sign(account, prev, hash, { slow: opts.slow }),
  };
  if (prev !== undefined) headers["If-Match"] = q(prev);
  return headers;
}

export function blobOf(text: string, size = 0): Uint8Array {
  const head = new TextEncoder().encode(text);
  if (size <= head.length) return head;
  const out = new Uint8Array(size);
  out.set(head);
  out.set(randomBytes(size - head.length), head.length);
  return out;
}

export function json(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.body.toString("utf8")) as Record<string, unknown>;
}

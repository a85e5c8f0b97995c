// An upload never stores a backup the client could not read back: a blob over
// maxBlobBytes (the limit every read applies: a download, a 409's body, a
// recovery) is refused with the read's code before anything is sent.
import { afterEach, expect, it } from "vitest";
import { randomBytes } from "../src/codec/keys.ts";
import { deriveSyncAccountKey, syncDownload, syncUpload } from "../src/transport/sync-client.ts";
import { startSyncServer, type SyncServer } from "../src/transport/sync-server.ts";
import { tempDir } from "./support/temp-wallet.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(): Promise<SyncServer & { lines: string[] }> {
  const d = tempDir();
  cleanups.push(d.cleanup);
  const lines: string[] = [];
  const s = await startSyncServer({ port: 0, host: "127.0.0.1", path: d.path, log: (l) => lines.push(l) });
  cleanups.push(() => s.close());
  return Object.assign(s, { lines });
}

it("refuses a blob over maxBlobBytes before sending it, with the code a read uses; nothing is stored", async () => {
  const s = await server();
  const k = deriveSyncAccountKey(randomBytes(32), s.baseUrl);
  const limit = 10_000;

  const r = await syncUpload(fetch, s.baseUrl, k.seed, randomBytes(limit + 1), { maxBlobBytes: limit });
  expect(r).toMatchObject({ kind: "error", code: "sync-backup-too-large" });
  expect(r).not.toHaveProperty("httpStatus"); // refused here, not by the provider
  expect(r.kind === "error" && r.message).toMatch(/10001 bytes.*10000/);
  // Nothing reached the provider: no request at all, and the account is still unknown there.
  expect(s.lines).toEqual([]);
  expect(await syncDownload(fetch, s.baseUrl, k.seed)).toEqual({ kind: "none" });

  // The same limit on the read side refuses the same size: what the upload refused, a download could not have read.
  const atLimit = randomBytes(limit);
  const stored = await syncUpload(fetch, s.baseUrl, k.seed, atLimit, { maxBlobBytes: limit });
  expect(stored.kind).toBe("stored");
  const back = await syncDownload(fetch, s.baseUrl, k.seed, { maxBlobBytes: limit });
  expect(back.kind === "ok" && Buffer.from(back.blob).equals(Buffer.from(atLimit))).toBe(true);
  expect(await syncDownload(fetch, s.baseUrl, k.seed, { maxBlobBytes: limit - 1 })).toMatchObject({ kind: "error", code: "sync-backup-too-large" });

  // A replacement over the limit is refused too, and leaves the stored backup as it was.
  const before = s.lines.length;
  const over = await syncUpload(fetch, s.baseUrl, k.seed, randomBytes(limit + 1), { maxBlobBytes: limit, ifMatch: stored.kind === "stored" ? stored.hash : undefined });
  expect(over).toMatchObject({ kind: "error", code: "sync-backup-too-large" });
  expect(s.lines.length).toBe(before);
  const still = await syncDownload(fetch, s.baseUrl, k.seed, { maxBlobBytes: limit });
  expect(still.kind === "ok" && still.hash).toBe(stored.kind === "stored" && stored.hash);
});

it("the default limit is the download's default (64 MiB): an upload over it is refused without a request", async () => {
  const s = await server();
  const k = deriveSyncAccountKey(randomBytes(32), s.baseUrl);
  // Zero-filled: only its length matters, and nothing is hashed or sent.
  const r = await syncUpload(fetch, s.baseUrl, k.seed, new Uint8Array(64 * 1024 * 1024 + 1));
  expect(r).toMatchObject({ kind: "error", code: "sync-backup-too-large" });
  expect(s.lines).toEqual([]);
  expect(await syncDownload(fetch, s.baseUrl, k.seed)).toEqual({ kind: "none" });
});

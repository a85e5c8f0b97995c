// A client that goes away while a fee-charging server awaits its paid check (PostgreSQL): the
// handler must end, and close() with it. A bug found by review (stop 25): readBody listened for
// "close" only after the await, when it had fired already, and close() waited forever.
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSyncServer } from "../src/transport/sync-server.ts";
import { startPostgres, type PostgresServer } from "./support/postgres.ts";
import { blobOf, newAccount, uploadHeaders } from "./support/sync-http.ts";

let pgServer: PostgresServer;
const dir = mkdtempSync(join(tmpdir(), "sync-abort-"));
beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pgServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("close() finishes after a client aborted its upload while the paid check was in progress", async () => {
  const url = await pgServer.createDatabase();
  const s = await startSyncServer({ port: 0, path: dir, postgres: url, annualFee: "KUDOS:1" });
  const a = newAccount();
  await s.markPaid(a.pub);
  // Hold the paid check in PostgreSQL so the client's abort lands while it is awaited.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("BEGIN");
  await admin.query("LOCK TABLE sync_accounts IN ACCESS EXCLUSIVE MODE");
  const blob = blobOf("aborted", 1000);
  const headers = { ...uploadHeaders(a, blob), "Content-Length": String(blob.length) };
  const u = new URL(s.baseUrl);
  await new Promise<void>((resolve) => {
    const sock = connect({ host: u.hostname, port: Number(u.port) }, () => {
      const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      sock.write(`POST /backups/${a.pub} HTTP/1.1\r\nHost: x\r\n${head}\r\n`);
      setTimeout(() => {
        sock.destroy();
        resolve();
      }, 200);
    });
  });
  await new Promise((r) => setTimeout(r, 200));
  await admin.query("COMMIT");
  await admin.end();
  const outcome = await Promise.race([
    s.close().then(() => "closed"),
    new Promise((r) => setTimeout(() => r("still closing after 8 s"), 8_000)),
  ]);
  expect(outcome).toBe("closed");
}, 30_000);

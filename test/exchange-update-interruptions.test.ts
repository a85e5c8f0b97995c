// Exchange updates cut short or overtaken: a process killed while an update
// waits on the network, and exchanges suspended or deleted while
// runPendingUpdates awaits an earlier one. Both were bugs found by review
// (stop 25): the exchange stayed "updating" after reopening, and the whole
// run rejected without contacting the rest.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { startTestExchange, type TestExchange } from "../src/testing/index.ts";
import type { HttpClient } from "../src/transport/exchange-client.ts";
import { openWallet } from "../src/wallet.ts";
import { tempDir } from "./support/temp-wallet.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WALLET = fileURLToPath(new URL("../src/wallet.ts", import.meta.url));

const CHILD = `
const { openWallet } = await import(${JSON.stringify(WALLET)});
const [dir, url] = process.argv.slice(-2);
const w = await openWallet({ path: dir, deviceId: "dev", httpTimeoutMs: 60000 });
await w.addExchange({ exchangeBaseUrl: url });
await w.updateExchange({ exchangeBaseUrl: url });
console.log("ready");
process.stdin.once("data", () => {
  void w.updateExchange({ exchangeBaseUrl: url });
  setTimeout(() => console.log("started"), 300);
});
`;

it("after a crash mid-update, the reopened wallet settles the attempt as interrupted: the exchange is ready, not still updating", async () => {
  const ex = await startTestExchange({ currency: "KUDOS" });
  const d = tempDir();
  cleanups.push(d.cleanup);
  try {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, "--", d.path, ex.baseUrl], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (s) => (stderr += s));
    const lines = createInterface({ input: child.stdout });
    const wait = (want: string) => new Promise<void>((resolve, reject) => {
      lines.on("line", (l) => l === want && resolve());
      child.once("exit", () => reject(new Error(`child exited: ${stderr}`)));
    });
    await wait("ready");
    ex.setFault({ kind: "hang" });
    child.stdin.write("go\n");
    await wait("started");
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    ex.setFault(undefined);

    const w = await openWallet({ path: d.path });
    try {
      const item = await w.getExchangeEntryByUrl({ exchangeBaseUrl: ex.baseUrl });
      // Nothing is in flight in this fresh process: the exchange is ready.
      expect(item.exchangeUpdateStatus).toBe("ready");
    } finally {
      await w.close();
    }
  } finally {
    await ex.close();
  }
}, 60_000);

it.each(["suspend", "delete"] as const)("an exchange the user %ss while another is being updated does not fail runPendingUpdates", async (what) => {
  const exs: TestExchange[] = [];
  for (let i = 0; i < 3; i++) {
    const ex = await startTestExchange({ currency: "KUDOS" });
    cleanups.push(() => ex.close());
    exs.push(ex);
  }
  const urls = exs.map((e) => e.baseUrl).sort();
  let gate: (() => void) | undefined;
  let entered: (() => void) | undefined;
  const enteredP = new Promise<void>((r) => (entered = r));
  const http: HttpClient = async (url, init) => {
    if (gate === undefined && url.startsWith(urls[0]) && url.endsWith("keys")) {
      await new Promise<void>((r) => {
        gate = r;
        entered!();
      });
    }
    return fetch(url, init);
  };
  const d = tempDir();
  cleanups.push(d.cleanup);
  let t = Date.UTC(2025, 0, 15);
  const w = await openWallet({ path: d.path, deviceId: "dev", http, now: () => t });
  cleanups.push(() => w.close());
  for (const url of urls) {
    await w.addExchange({ exchangeBaseUrl: url });
    await w.recordWithdrawal({ exchangeBaseUrl: url, coins: [{ coinPub: `c-${url}`, denomPubHash: "d", value: "KUDOS:1" }] });
  }
  // Every used exchange is due (never updated). The first one's /keys is held.
  const run = w.runPendingUpdates().then(
    (r) => ({ ok: true as const, r }),
    (e: { code?: string; message?: string }) => ({ ok: false as const, code: e.code, message: e.message }),
  );
  await enteredP;
  // Meanwhile the user suspends (or deletes) the second exchange.
  if (what === "suspend") await w.setExchangeSuspended({ exchangeBaseUrl: urls[1], suspended: true });
  else await w.deleteExchange({ exchangeBaseUrl: urls[1], purge: true });
  gate!();
  const out = await run;
  expect(out, JSON.stringify(out)).toMatchObject({ ok: true });
  // The third exchange was due and is not suspended: it must have been contacted.
  expect(exs.find((e) => e.baseUrl === urls[2])!.requests.length).toBeGreaterThan(0);
});

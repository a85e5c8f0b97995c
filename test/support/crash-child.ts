// Child process of test/crash.test.ts: appends to the wallet store in <dir>
// until it is killed, and after every commit prints "committed <n>" (n = the
// device's seq) on stdout. Pipes are synchronous on Linux, so a printed count
// was committed before the parent could read it.
//
//   node --import tsx test/support/crash-child.ts <dir> <run-label>
//
// Mixes single appends, batches of several events in one transaction, and
// device-local events, with withdrawals and spends so that the coin and
// balance projections carry real state. Bounded: stops by itself after
// MAX_MS or MAX_EVENTS in case the parent never kills it.
import type { SharedDraft } from "../../src/events/catalogue.ts";
import { openStore } from "../../src/events/store.ts";
import { coinRemaining, type CoinRecord } from "../../src/projections/coins.ts";
import { PROJECTIONS } from "../../src/projections/index.ts";

const MAX_MS = 60_000;
const MAX_EVENTS = 50_000;
const URLS = ["https://a.example/", "https://b.example/", "https://c.example/"];

const [dir, label = "run"] = process.argv.slice(2);
if (!dir) {
  process.stderr.write("usage: crash-child.ts <dir> [run-label]\n");
  process.exit(2);
}

const store = await openStore({ path: dir, projections: PROJECTIONS });
const dev = store.deviceId;

// Coins this device may still spend, in cents, as the committed projection says.
const spendable = new Map<string, number>();
for (const { value: c } of store.records.entries<CoinRecord>(["coin"])) {
  const left = coinRemaining(c);
  if (c.currency === "KUDOS" && left && (left.value > 0 || left.fraction > 0)) spendable.set(c.coinPub, left.value * 100 + left.fraction / 1e6);
}

let ids = 0;
const fresh = (kind: string) => `${label}-${kind}-${++ids}`;
const kudos = (cents: number) => `KUDOS:${Math.floor(cents / 100)}${cents % 100 ? `.${String(cents % 100).padStart(2, "0").replace(/0$/, "")}` : ""}`;
let rnd = 0x9e3779b9 ^ label.length ^ process.pid;
const random = (n: number) => {
  // xorshift: deterministic enough, and no dependency
  rnd ^= rnd << 13;
  rnd ^= rnd >>> 17;
  rnd ^= rnd << 5;
  return (rnd >>> 0) % n;
};

/** One valid draft, and what to update in `spendable` once it is committed. */
function nextDraft(pending: Map<string, number>): SharedDraft {
  const url = URLS[random(URLS.length)];
  const r = random(10);
  const candidates = [...pending.entries()].filter(([, left]) => left > 0);
  if (r < 3 || candidates.length === 0) {
    const coins = Array.from({ length: 1 + random(3) }, () => ({ coinPub: fresh("coin"), denomPubHash: "denom", value: kudos(100 + random(400)) }));
    for (const c of coins) pending.set(c.coinPub, Math.round(Number(c.value.slice(6)) * 100));
    return { type: "coins-withdrawn", data: { url, withdrawalGroupId: fresh("wg"), coins } };
  }
  if (r < 6) {
    const [pub, left] = candidates[random(candidates.length)];
    const amount = 1 + random(Math.min(left, 150));
    pending.set(pub, left - amount);
    return { type: "coin-spent", data: { spendId: fresh("spend"), coinPub: pub, amount: kudos(amount) } };
  }
  if (r < 7) return { type: "exchange-added", data: { url, preset: random(2) === 0 } };
  if (r < 8) return { type: "exchange-tos-accepted", data: { url, etag: `v${random(3)}` } };
  if (r < 9) return { type: random(2) ? "exchange-suspended" : "exchange-unsuspended", data: { url } };
  return { type: "exchange-tos-offered", data: { url, etag: `v${random(3)}`, languages: ["en", "de"] } };
}

const started = Date.now();
process.stdout.write(`ready ${store.head(dev)?.seq ?? 0}\n`);
for (let i = 0; Date.now() - started < MAX_MS && (store.head(dev)?.seq ?? 0) < MAX_EVENTS; i++) {
  const pending = new Map(spendable);
  const batch = i % 3 === 0 ? 2 + random(6) : 1;
  const drafts = Array.from({ length: batch }, () => nextDraft(pending));
  store.write((tx) => {
    tx.appendOwn(drafts, Date.now());
    if (i % 5 === 0) tx.appendLocal({ type: "exchange-update-attempted", data: { url: URLS[i % URLS.length] } }, Date.now());
    if (i % 5 === 2) tx.appendLocal({ type: "exchange-update-settled", data: { url: URLS[i % URLS.length], ok: i % 2 === 0 } }, Date.now());
  });
  for (const [k, v] of pending) spendable.set(k, v);
  process.stdout.write(`committed ${store.head(dev)!.seq}\n`);
}
await store.close();

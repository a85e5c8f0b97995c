// Issue 13, failure 1: two writers on one wallet directory silently lost data
// (two processes each recording 200 withdrawals left 201 events and 200 of
// 400 coins, a broken chain, and a balance that disagreed with a rebuild; two
// wallet objects in one process lost 100 of 200 coins). Now one writer holds a
// directory: a second opener, in this process or another, is refused with
// store-locked, and the lock dies with its holder.
import { mkdirSync, symlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyStore } from "../src/engine/verify-store.ts";
import { WalletError } from "../src/errors.ts";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { startTsChild } from "./support/ts-child.ts";
import { tempDir } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const dirs: { cleanup(): void }[] = [];
const open: Wallet[] = [];
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
  for (const d of dirs.splice(0)) d.cleanup();
});
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};
const opened = async (path: string) => {
  const w = await openWallet({ path });
  open.push(w);
  return w;
};

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof WalletError ? e.code : `raw:${String(e)}`;
  }
  return "opened";
}

const hashOf = (e: WalletEvent) => encodeCrock(sha512(canonicalJson(e)));

/** The log is one dense chain per device, and projections equal a rebuild. */
async function expectWhole(w: Wallet): Promise<WalletEvent[]> {
  const log = await w.exportEvents();
  const own = log.filter((e) => e.device === w.deviceId).sort((a, b) => a.seq - b.seq);
  expect(own.map((e) => e.seq)).toEqual(own.map((_, i) => i + 1));
  for (let i = 1; i < own.length; i++) expect(own[i].prev).toBe(hashOf(own[i - 1]));
  const dump = await w.dumpProjections();
  const balances = await w.getBalances();
  await w.rebuild();
  expect(await w.dumpProjections()).toEqual(dump);
  expect(await w.getBalances()).toEqual(balances);
  return log;
}

/** Every coin `<label>-coin-<i>` is there with its whole value. */
async function expectCoins(w: Wallet, labels: string[], n: number) {
  for (const label of labels) {
    for (let i = 0; i < n; i++) expect((await w.getCoin({ coinPub: `${label}-coin-${i}` })).remaining).toBe("KUDOS:1");
  }
}

async function withdraw(w: Wallet, label: string, n: number) {
  await w.addExchange({ exchangeBaseUrl: EX });
  for (let i = 0; i < n; i++) {
    await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: `${label}-wg-${i}`, coins: [{ coinPub: `${label}-coin-${i}`, denomPubHash: "d1", value: "KUDOS:1" }] });
  }
}

describe("two wallet objects on one path in one process", () => {
  it("the second open is refused with store-locked; after close it opens, and no coin of the 100 + 100 is lost", async () => {
    const path = fresh();
    const a = await openWallet({ path });
    expect(await refusal(openWallet({ path }))).toBe("store-locked");
    await withdraw(a, "a", 100);
    // Still refused while a writes, and the refusal did not release a's lock.
    expect(await refusal(openWallet({ path }))).toBe("store-locked");
    await a.close();

    const b = await opened(path);
    await withdraw(b, "b", 100);
    const log = await expectWhole(b);
    expect(log).toHaveLength(201);
    expect(await b.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:200", pendingIncoming: "KUDOS:0" }] });
    expect((await b.getExchangeResources({ exchangeBaseUrl: EX })).coins).toBe(200);
    await expectCoins(b, ["a", "b"], 100);
  });

  it("other spellings of the path (trailing slash, relative, a symlink) are the same directory and are refused too", async () => {
    const path = fresh();
    await opened(path);
    const link = join(fresh(), "link");
    symlinkSync(path, link);
    for (const p of [`${path}/`, `${path}/.`, relative(process.cwd(), path), link]) {
      expect(await refusal(openWallet({ path: p })), p).toBe("store-locked");
    }
  });

  it("two opens racing in one tick: exactly one wins", async () => {
    const path = fresh();
    const results = await Promise.allSettled([openWallet({ path }), openWallet({ path }), openWallet({ path })]);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    open.push((won[0] as PromiseFulfilledResult<Wallet>).value);
    for (const r of results) if (r.status === "rejected") expect((r.reason as WalletError).code).toBe("store-locked");
  });

  it("a refused second open of a just-created wallet directory leaves the holder writing", async () => {
    const parent = fresh();
    const path = join(parent, "new", "wallet");
    mkdirSync(join(parent, "new"));
    const a = await opened(path);
    expect(await refusal(openWallet({ path }))).toBe("store-locked");
    await a.addExchange({ exchangeBaseUrl: EX });
    expect((await a.listExchanges()).exchanges).toHaveLength(1);
  });
});

describe("two processes on one wallet directory", () => {
  it("200 + 200 withdrawals from two processes: one is refused at open, and after the first closes, the second writes: 400 coins, KUDOS:400, equal to a rebuild", async () => {
    const path = fresh();
    const p1 = startTsChild("writer-child.ts", [path, "p1", "200"]);
    const p2 = startTsChild("writer-child.ts", [path, "p2", "200"]);
    const [s1, s2] = await Promise.all([p1.line(), p2.line()]);
    const states = [s1.split(" ")[0], s2.split(" ")[0]].sort();
    expect(states, `${s1} / ${s2}`).toEqual(["opened", "refused"]);
    expect([s1, s2].find((s) => s.startsWith("refused"))).toBe("refused store-locked");
    const [holder, refused] = s1.startsWith("opened") ? [p1, p2] : [p2, p1];
    // The holder writes while the refused process is gone: nothing it did touched the store.
    expect((await refused.exited).code).toBe(0);
    holder.send("go");
    expect(await holder.line((l) => l.startsWith("done"))).toBe("done 200 0");
    expect((await holder.exited).code).toBe(0);

    // The refused process tries again now that the directory is free.
    const again = startTsChild("writer-child.ts", [path, holder === p1 ? "p2" : "p1", "200"]);
    expect(await again.line()).toMatch(/^opened /);
    again.send("go");
    expect(await again.line((l) => l.startsWith("done"))).toBe("done 200 0");
    await again.exited;

    const w = await opened(path);
    const log = await expectWhole(w);
    expect(log).toHaveLength(401);
    expect((await w.getExchangeResources({ exchangeBaseUrl: EX })).coins).toBe(400);
    await expectCoins(w, ["p1", "p2"], 200);
    expect(await w.getBalances()).toEqual({ balances: [{ currency: "KUDOS", available: "KUDOS:400", pendingIncoming: "KUDOS:0" }] });
    await w.close();
    open.length = 0;
    expect(await verifyStore(path)).toEqual({ ok: true, events: 401, records: expect.any(Number) });
  });

  it("while another process holds the wallet, this one is refused; after SIGKILL of the holder the lock is free again", async () => {
    const path = fresh();
    const holder = startTsChild("writer-child.ts", [path, "h", "0"]);
    expect(await holder.line()).toMatch(/^opened /);
    expect(await refusal(openWallet({ path }))).toBe("store-locked");
    holder.proc.kill("SIGKILL");
    expect((await holder.exited).signal).toBe("SIGKILL");

    const w = await opened(path);
    await withdraw(w, "after", 3);
    await expectWhole(w);
    // And the other way round: this process holds it, a child is refused.
    const late = startTsChild("writer-child.ts", [path, "late", "1"]);
    expect(await late.line()).toBe("refused store-locked");
    await late.exited;
  });
});

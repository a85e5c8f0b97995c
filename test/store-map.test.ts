// The LMDB map: one reserved map where the address space allows it (a file
// read through several maps is resident once per map), lmdb-js's growing map
// where `ulimit -v` does not (there lmdb-js would crash the process on open).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { MAP_RESERVE_BYTES, mapReserve, reserveUnder } from "../src/events/map-reserve.ts";
import { tempWallet } from "./support/temp-wallet.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHILD = fileURLToPath(new URL("./support/map-child.ts", import.meta.url));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const limits = (soft: string) =>
  ["Limit                     Soft Limit           Hard Limit           Units", `Max address space         ${soft.padEnd(21)}unlimited            bytes`, "Max resident set          unlimited            unlimited            bytes"].join("\n");

describe("the map reserve", () => {
  it("is taken only when the address space is unlimited (or unknown: not at all)", () => {
    expect(reserveUnder(limits("unlimited"))).toBe(MAP_RESERVE_BYTES);
    expect(reserveUnder(limits("51200000000"))).toBeUndefined();
    expect(reserveUnder(limits("1099511627776000"))).toBeUndefined();
    expect(reserveUnder("")).toBeUndefined();
    expect(reserveUnder(undefined)).toBeUndefined();
  });

  it.runIf(mapReserve() !== undefined)("a wallet whose file grows is mapped once, not once per doubling", async () => {
    const t = await tempWallet({ deviceId: "grow" });
    cleanups.push(t.cleanup);
    const url = "https://ex.test/";
    await t.wallet.addExchange({ exchangeBaseUrl: url });
    for (let i = 0; i < 150; i++) {
      const coins = Array.from({ length: 50 }, (_, k) => ({ coinPub: `coin-${i}-${k}-${"y".repeat(40)}`, denomPubHash: "d", value: "KUDOS:1" }));
      await t.wallet.recordWithdrawal({ exchangeBaseUrl: url, coins });
    }
    const file = join(t.path, "wallet.mdb");
    const size = readFileSync(file).length;
    const maps = readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(file));
    // From lmdb-js's 128 KiB start, a file this size takes several doublings of the map.
    expect(size).toBeGreaterThan(1 << 20);
    expect(maps, `maps of a ${size} B file`).toHaveLength(1);
    expect((await t.wallet.getBalances()).balances[0]?.available).toBe("KUDOS:7500");
  });

  it.runIf(process.platform === "linux")("a wallet written with the reserve opens, grows and reopens under an address-space limit smaller than it", async () => {
    const t = await tempWallet({ deviceId: "child" });
    cleanups.push(t.cleanup);
    await t.wallet.addExchange({ exchangeBaseUrl: "https://ex.test/" });
    await t.wallet.close();
    // 48 GiB: room for node and V8's reservations, not for a 64 GiB map.
    const limitKiB = 50_000_000;
    const r = spawnSync("bash", ["-c", `ulimit -v ${limitKiB} && exec "$0" --import tsx "$1" "$2"`, process.execPath, CHILD, t.path], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status, `signal ${r.signal}, stderr: ${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("balance KUDOS:800");
    expect(r.stdout).toMatch(/mapped [1-9]/);
  });
});

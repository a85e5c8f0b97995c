// A wallet (its exchange already added) opened, grown and reopened in a
// process of its own, for limits a test cannot set on itself (ulimit -v).
// Prints `mapped <n>` (maps of the data file) and `balance <amount>`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openWallet } from "../../src/wallet.ts";

const dir = process.argv[2]!;
const url = "https://ex.test/";
let wallet = await openWallet({ path: dir, deviceId: "child" });
for (let i = 0; i < 20; i++) {
  const coins = Array.from({ length: 40 }, (_, k) => ({ coinPub: `coin-${i}-${k}-${"x".repeat(40)}`, denomPubHash: "d", value: "KUDOS:1" }));
  await wallet.recordWithdrawal({ exchangeBaseUrl: url, coins });
}
await wallet.close();
wallet = await openWallet({ path: dir, deviceId: "child" });
const maps = readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(join(dir, "wallet.mdb")));
console.log(`mapped ${maps.length}`);
console.log(`balance ${(await wallet.getBalances()).balances.map((b) => b.available).join(",")}`);
await wallet.close();

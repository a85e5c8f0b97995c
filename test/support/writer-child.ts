// Child process of test/writers.test.ts: one writer of a wallet directory.
//
//   node --import tsx test/support/writer-child.ts <dir> <label> <withdrawals>
//
// Opens the wallet and prints "opened <deviceId>" or "refused <code>" (then
// exits). Once opened it waits for a line on stdin: "go" records
// <withdrawals> withdrawals of one KUDOS:1 coin each (coin pubs
// <label>-coin-<i>), prints "done <successes> <failures>" and closes; the
// parent may instead kill it while it holds the wallet.
import { createInterface } from "node:readline";
import { WalletError } from "../../src/errors.ts";
import { openWallet, type Wallet } from "../../src/wallet.ts";

const [dir, label, count] = process.argv.slice(2);
const EX = "https://ex.example/";

let w: Wallet;
try {
  w = await openWallet({ path: dir });
} catch (e) {
  process.stdout.write(`refused ${e instanceof WalletError ? e.code : `raw:${String(e)}`}\n`);
  process.exit(0);
}
process.stdout.write(`opened ${w.deviceId}\n`);

const input = createInterface({ input: process.stdin });
for await (const line of input) {
  if (line !== "go") continue;
  await w.addExchange({ exchangeBaseUrl: EX });
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < Number(count); i++) {
    try {
      await w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: `${label}-wg-${i}`, coins: [{ coinPub: `${label}-coin-${i}`, denomPubHash: "d1", value: "KUDOS:1" }] });
      ok++;
    } catch {
      failed++;
    }
  }
  await w.close();
  process.stdout.write(`done ${ok} ${failed}\n`);
  break;
}
input.close();

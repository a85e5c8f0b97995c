// The engine's key order must be LMDB's: a compacted backup lists its base records in LMDB order
// and its reader checks them with compareKeys. Found by review: coin keys with a character above
// U+FFFF and one in U+E000..U+FFFF made every compacted backup of that wallet unreadable.
import fc from "fast-check";
import { open } from "lmdb";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compareKeys, isKeySafeText, type Key } from "../src/events/records.ts";
import { openWallet } from "../src/index.ts";

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "key-order-"));
  dirs.push(d);
  return d;
};

// Units chosen where the orders can differ: ASCII, the escaped 0x01-0x04, BMP below and above the
// surrogates, both halves of pairs (so pairs and lone halves both occur), and U+FFFF.
const unit = fc.constantFrom(0x41, 0x7a, 0x01, 0x04, 0x7ff, 0x800, 0xd7ff, 0xd83d, 0xdbff, 0xde00, 0xdc00, 0xe000, 0xff01, 0xffff);
const text = (max: number) => fc.array(unit, { minLength: 0, maxLength: max }).map((us) => String.fromCharCode(...us));
const part: fc.Arbitrary<string | number> = fc.oneof(text(6), fc.integer({ min: 0, max: 1000 }), text(70));

describe("compareKeys", () => {
  it("orders keys exactly as LMDB does", () => {
    const db = open({ path: scratch() });
    try {
      fc.assert(
        fc.property(fc.uniqueArray(fc.array(part, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 12, selector: (k) => JSON.stringify(k) }), (keys) => {
          const safe = keys.filter((k) => k.every((p) => typeof p === "number" || isKeySafeText(p)));
          db.clearSync();
          db.transactionSync(() => {
            for (const k of safe) db.putSync(k, 1);
          });
          // lmdb hands a one-part key back as the part itself.
          const lmdbOrder = [...db.getKeys()].map((k) => JSON.stringify(Array.isArray(k) ? k : [k]));
          const ours = [...safe].sort((x: Key, y: Key) => compareKeys(x, y)).map((k) => JSON.stringify(k));
          expect(ours).toEqual(lmdbOrder);
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
      );
    } finally {
      db.close();
    }
  });

  it("puts a character above U+FFFF after U+FF01, as UTF-8 does", () => {
    expect(compareKeys(["C\uFF01"], ["C\u{1F600}"])).toBe(-1);
    expect(compareKeys(["C\u{1F600}"], ["C\uFF01"])).toBe(1);
    expect(compareKeys(["\uD83D\uE000"], ["\uD83D\uF000"])).toBe(-1);
  });
});

describe("a compacted backup with coin keys on both sides of the surrogates", () => {
  it("imports on a new device and gives the same balances", async () => {
    const root = scratch();
    const a = await openWallet({ path: join(root, "a"), deviceId: "laptop", compactBackupsAbove: 0 });
    const b = await openWallet({ path: join(root, "b"), deviceId: "tablet" });
    try {
      await a.addExchange({ exchangeBaseUrl: "https://ex.example/" });
      await a.recordWithdrawal({
        exchangeBaseUrl: "https://ex.example/",
        coins: [
          { coinPub: "C\uFF01", denomPubHash: "D", value: "KUDOS:1" },
          { coinPub: "C\u{1F600}", denomPubHash: "D", value: "KUDOS:2" },
        ],
      });
      const plain = (await a.exportBackupPlain()) as { snapshot?: unknown };
      expect(plain.snapshot).toBeDefined();
      await b.importBackupPlain(plain);
      expect(await b.getBalances()).toEqual(await a.getBalances());
    } finally {
      await a.close();
      await b.close();
    }
  });
});

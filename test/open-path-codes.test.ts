// openWallet on a path the file system refuses to create (a name too long, a NUL byte) used to
// answer store-failed ("could not classify") instead of store-open-failed ("the wallet directory
// cannot be created or read"), which ERROR_CODES defines for exactly this. Found by review.
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { openWallet } from "../src/wallet.ts";
import { WalletError } from "../src/errors.ts";
import { tempDir } from "./support/temp-wallet.ts";

async function openCode(path: string): Promise<string> {
  try {
    const w = await openWallet({ path });
    await w.close();
    return "opened";
  } catch (e) {
    return e instanceof WalletError ? e.code : `non-wallet-error:${String(e)}`;
  }
}

describe("paths that cannot be created are store-open-failed", () => {
  it.each([
    ["a path component longer than NAME_MAX (ENAMETOOLONG)", (d: string) => join(d, "a".repeat(5000))],
    ["a path with a NUL byte", (d: string) => join(d, "a\0b")],
  ])("%s", async (_, mk) => {
    const dir = tempDir();
    try {
      expect(await openCode(mk(dir.path))).toBe("store-open-failed");
    } finally {
      dir.cleanup();
    }
  });
});

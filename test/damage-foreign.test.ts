// A bug found by review (stop 25), as it was: openWallet on a directory holding another application's LMDB wallet.mdb is refused
// with store-foreign, but only after it has written into that file: the named databases log, local,
// meta and base are created in its main database (a write transaction), and projections.mdb with its
// lock file is created beside it. A refused open must leave a foreign file as it found it.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet } from "../src/wallet.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("a refused open of a foreign LMDB store", () => {
  it("is store-foreign and writes nothing: the foreign file keeps its bytes and keys, no projections.mdb appears", async () => {
    const dir = mkdtempSync(join(tmpdir(), "foreign-"));
    dirs.push(dir);
    const env = open({ path: join(dir, "wallet.mdb") });
    await env.put("someone", "else");
    await env.close();
    const before = readFileSync(join(dir, "wallet.mdb"));

    await expect(openWallet({ path: dir })).rejects.toMatchObject({ code: "store-foreign" });

    const ro = open({ path: join(dir, "wallet.mdb"), readOnly: true });
    const keys = [...ro.getKeys({})];
    await ro.close();
    // Actual: ["base", "local", "log", "meta", "someone"].
    expect(keys).toEqual(["someone"]);
    expect(readFileSync(join(dir, "wallet.mdb")).equals(before)).toBe(true);
    expect(existsSync(join(dir, "projections.mdb"))).toBe(false);
  });
});

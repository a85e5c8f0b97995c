// Retirement reads "not heard from" from when this wallet received a device's events, not from the
// author's wall clock on them. Found by review: a phone's events written offline 100 days earlier
// retired the phone the moment they arrived, and the laptop folded events the phone never held.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openWallet } from "../src/index.ts";

const T0 = Date.UTC(2025, 0, 15);
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});

type Plain = { snapshot?: { frontier: Record<string, number> } };

describe("retiring a device (default: not heard from for 90 days)", () => {
  it("does not retire a device whose old events arrived just now, and does once it stays silent", async () => {
    const root = mkdtempSync(join(tmpdir(), "retire-heard-"));
    dirs.push(root);
    const phone = await openWallet({ path: join(root, "phone"), deviceId: "phone", now: () => T0 });
    let now = T0 + 100 * DAY;
    const laptop = await openWallet({ path: join(root, "laptop"), deviceId: "laptop", now: () => now, compactBackupsAbove: 0 });
    try {
      await phone.addExchange({ exchangeBaseUrl: "https://phone.example/" });
      await laptop.addExchange({ exchangeBaseUrl: "https://laptop.example/" });
      await laptop.importEvents(await phone.exportEvents());
      // The phone holds only phone:1 and was heard from today: laptop:1 is not stable.
      expect(((await laptop.exportBackupPlain()) as Plain).snapshot?.frontier ?? {}).toEqual({ phone: 1 });

      // Importing what the laptop already holds is not hearing from anyone new, and writes nothing.
      const log = await laptop.exportEvents();
      await laptop.importEvents(await phone.exportEvents());
      expect(await laptop.exportEvents()).toEqual(log);

      // 91 days of silence later the phone is retired and the laptop's own events become stable.
      now += 91 * DAY;
      await laptop.addExchange({ exchangeBaseUrl: "https://later.example/" });
      expect(((await laptop.exportBackupPlain()) as Plain).snapshot?.frontier).toEqual({ laptop: 2, phone: 1 });
    } finally {
      await phone.close();
      await laptop.close();
    }
  });
});

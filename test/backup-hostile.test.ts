// The backup blob against hostile or unusual content, regression examples for
// bugs found by review (stop 25): a log naming thousands of devices cost
// devices × payload columns of memory and events × devices of time before its
// first event was checked; a purged exchange's groups had no tombstone.
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../src/index.ts";
import { readBackupContent } from "../src/backup/content-reader.ts";
import { BACKUP_SCHEMA_ID } from "../src/backup/content.ts";
import { walletScope } from "./support/temp-wallet.ts";

describe("decodeLog memory is linear in its input", () => {
  it.each([4000, 1024])("a hostile plain backup of %i chains and as many distinct payload paths is refused or decoded without N^2 memory", (N) => {
    const devices = Array.from({ length: N }, (_, i) => `d${String(i).padStart(5, "0")}`);
    // One type; event i's payload is {k<i>: 0}, so the type's columns hold N + 1 paths.
    const entries: unknown[] = [{ path: [], keys: devices.map((_, i) => [`k${i}`]), shape: devices.map((_, i) => i) }];
    for (let i = 0; i < N; i++) entries.push({ path: [`k${i}`], val: ["int", [0]] });
    const chains = devices.map((_, i) => ({ count: 1, deps: [], device: i, lamport: [1], seq: 1, time: [0], type: [0] }));
    const content = JSON.parse(
      canonicalJson({
        schema_id: BACKUP_SCHEMA_ID,
        schema_version: 1,
        wallet_root_pub: "x",
        current_device_id: "d00000",
        timestamp: { t_ms: 0 },
        clocks: Object.fromEntries(devices.map((d) => [d, 1])),
        strings: [],
        log: { devices, types: ["exchange-added"], chains, data: [entries] },
      }),
    );
    const inputBytes = JSON.stringify(content).length;
    expect(inputBytes).toBeLessThan(1_000_000);
    const before = process.memoryUsage().arrayBuffers;
    let read: unknown;
    try {
      read = readBackupContent(content);
    } catch (e) {
      expect((e as { code?: string }).code).toMatch(/^backup-/);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    // 4000 chains each keep a copy of a 4001-path cursor (16 bytes per path): ~256 MB for < 1 MB of JSON.
    expect(grown, `decoding ${inputBytes} bytes of JSON holds ${(grown / 2 ** 20).toFixed(0)} MiB of cursors`).toBeLessThan(64 * 2 ** 20);
    void read;
  });
});


const scope = walletScope({ now: () => 1_700_000_000_000 });
afterEach(() => scope.cleanup());

describe("the Taler-shaped view's tombstones", () => {
  it("a purged exchange's withdrawal group has a tombstone whether or not the exchange was added again", async () => {
    const w = await scope.open("laptop");
    const url = "https://ex.example/";
    await w.addExchange({ exchangeBaseUrl: url });
    await w.recordWithdrawal({ exchangeBaseUrl: url, withdrawalGroupId: "wg-1", coins: [{ coinPub: "COIN-A", denomPubHash: "D", value: "KUDOS:5" }] });
    await w.deleteExchange({ exchangeBaseUrl: url, purge: true });
    const groupTombstones = (c: { tombstones: { kind: string }[] }) => c.tombstones.filter((t) => t.kind === "withdrawal-group");

    const deleted = await w.exportBackupPlain();
    // The coin it made has its tombstone; the exchange has its own.
    expect(deleted.tombstones.map((t) => t.kind).sort()).toContain("coin");
    expect(deleted.tombstones.map((t) => t.kind).sort()).toContain("exchange");

    await w.addExchange({ exchangeBaseUrl: url });
    const readded = await w.exportBackupPlain();
    expect(groupTombstones(readded)).toEqual([{ kind: "withdrawal-group", withdrawal_group_id: "wg-1" }]);
    // Actual: [] while the exchange is deleted; the same removed group appears only once the exchange is re-added.
    expect(groupTombstones(deleted)).toEqual([{ kind: "withdrawal-group", withdrawal_group_id: "wg-1" }]);
  });
});

describe("decoding a log costs time linear in its input", () => {
  /** One chain of N events on d00000 whose first event's deps name D − 1 other devices (one triple each): ~29 bytes per device. */
  function wideDeps(D: number) {
    const devices = Array.from({ length: D }, (_, i) => `d${String(i).padStart(5, "0")}`);
    const deps: number[] = [];
    for (let i = 1; i < D; i++) deps.push(0, i, 1);
    return JSON.parse(
      canonicalJson({
        schema_id: BACKUP_SCHEMA_ID,
        schema_version: 1,
        wallet_root_pub: "x",
        current_device_id: "x",
        timestamp: { t_ms: 0 },
        clocks: { [devices[0]]: D },
        strings: [],
        log: {
          devices,
          types: ["exchange-added"],
          data: [[{ path: [], val: ["raw", Array(D).fill(null)] }]],
          chains: [{ device: 0, seq: 1, count: D, type: Array(D).fill(0), lamport: Array(D).fill(1), time: Array(D).fill(0), deps }],
        },
      }),
    );
  }

  const importCode = (w: { importBackupPlain(c: unknown): Promise<unknown> }, content: unknown) =>
    w.importBackupPlain(content).then(
      () => "ok",
      (e) => (e as { code?: string }).code,
    );

  it("a 115 KB hostile plain backup (4000 devices named once in deps, 4000 events) is refused before any event is rebuilt", async () => {
    const w = await scope.open("me");
    const content = wideDeps(4000);
    expect(JSON.stringify(content).length).toBeLessThan(120_000);
    // Before: 4000 events × 4000 deps entries rebuilt and hashed (~11 s) before its first event was checked.
    expect(await importCode(w, content)).toBe("backup-too-large");
  });

  it("at the device bound (1024), such a log costs events × devices once, and is refused for its invalid event", async () => {
    const w = await scope.open("me");
    const content = wideDeps(1024);
    // 1024 events of 1024 deps each, about 1M entries: what the bound allows at most.
    expect(await importCode(w, content)).toBe("event-invalid");
  }, 60_000);
});

// Bad input at the public surface: every refusal is a WalletError with a
// stable code, and a refused request or import changes nothing (log and
// projections are byte-for-byte what they were).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWallet, type Wallet } from "../src/wallet.ts";
import { WalletError } from "../src/errors.ts";
import type { WalletEvent } from "../src/events/envelope.ts";
import { tempDir, tempWallet } from "./support/temp-wallet.ts";

const EX = "https://ex.example/";
const EX_SUSPENDED = "https://suspended.example/";
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

let w: Wallet;
let remote: WalletEvent[];
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  const main = await tempWallet({ deviceId: "dev-main", now: () => NOW });
  cleanups.push(main.cleanup);
  w = main.wallet;
  await w.addExchange({ exchangeBaseUrl: EX });
  await w.addExchange({ exchangeBaseUrl: EX_SUSPENDED });
  await w.recordWithdrawal({
    exchangeBaseUrl: EX,
    withdrawalGroupId: "wg-1",
    coins: [
      { coinPub: "coin-5", denomPubHash: "d5", value: "KUDOS:5" },
      { coinPub: "coin-1", denomPubHash: "d1", value: "KUDOS:1" },
    ],
  });
  await w.recordWithdrawal({
    exchangeBaseUrl: EX_SUSPENDED,
    withdrawalGroupId: "wg-s",
    coins: [{ coinPub: "coin-s", denomPubHash: "d1", value: "KUDOS:1" }],
  });
  await w.recordSpend({ coinPub: "coin-5", amount: "KUDOS:2", spendId: "spend-1" });
  await w.setExchangeSuspended({ exchangeBaseUrl: EX_SUSPENDED, suspended: true });

  // A second device's log, as material for imports.
  const other = await tempWallet({ deviceId: "dev-x", now: () => NOW });
  cleanups.push(other.cleanup);
  await other.wallet.addExchange({ exchangeBaseUrl: "https://x.example/" });
  await other.wallet.setExchangeTosAccepted({ exchangeBaseUrl: "https://x.example/", etag: "v1" });
  await other.wallet.recordWithdrawal({
    exchangeBaseUrl: "https://x.example/",
    coins: [{ coinPub: "coin-x", denomPubHash: "dx", value: "KUDOS:3" }],
  });
  remote = await other.wallet.exportEvents();
});

afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Runs `call`, expects a WalletError with `code`, and checks that the wallet did not change. */
async function expectRefusedUnchanged(call: () => Promise<unknown>, code: string): Promise<WalletError> {
  const log = await w.exportEvents();
  const clock = await w.getVectorClock();
  const dump = await w.dumpProjections();
  let caught: unknown;
  try {
    await call();
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected a refusal").toBeInstanceOf(WalletError);
  expect((caught as WalletError).code, (caught as Error).message).toBe(code);
  expect((caught as Error).message.length).toBeGreaterThan(0);
  expect(await w.exportEvents()).toEqual(log);
  expect(await w.getVectorClock()).toEqual(clock);
  expect(await w.dumpProjections()).toEqual(dump);
  return caught as WalletError;
}

// The requests take typed arguments; bad input reaches them from JavaScript callers.
const any = (x: unknown) => x as never;

describe("malformed exchange URLs", () => {
  it.each([
    ["empty", ""],
    ["blank", "   "],
    ["ftp scheme", "ftp://x"],
    ["no host", "http://"],
    ["a number", 42],
    ["null", null],
    ["credentials", "https://user:pw@h/"],
    ["a user name only", "https://user@h/"],
    ["unparsable", "https://exa mple.com/"],
  ])("addExchange refuses %s with url-invalid", async (_, url) => {
    await expectRefusedUnchanged(() => w.addExchange({ exchangeBaseUrl: any(url) }), "url-invalid");
  });

  it.each([
    ["getExchangeEntryByUrl", () => w.getExchangeEntryByUrl({ exchangeBaseUrl: "ftp://x" })],
    ["setExchangeTosAccepted", () => w.setExchangeTosAccepted({ exchangeBaseUrl: any(7), etag: "v1" })],
    ["setExchangeSuspended", () => w.setExchangeSuspended({ exchangeBaseUrl: "", suspended: true })],
    ["deleteExchange", () => w.deleteExchange({ exchangeBaseUrl: "https://u:p@ex.example/" })],
    ["recordWithdrawal", () => w.recordWithdrawal({ exchangeBaseUrl: "http://", coins: [] })],
    ["updateExchange", () => w.updateExchange({ exchangeBaseUrl: "mailto:someone@example.com" })],
  ])("%s refuses a malformed URL with url-invalid", async (_, call) => {
    await expectRefusedUnchanged(call, "url-invalid");
  });

  it("a request that is not an object is request-invalid", async () => {
    await expectRefusedUnchanged(() => w.addExchange(any(null)), "request-invalid");
    await expectRefusedUnchanged(() => w.getExchangeEntryByUrl(any("https://ex.example/")), "request-invalid");
  });
});

describe("unknown exchanges", () => {
  const UNKNOWN = "https://unknown.example/";
  it.each([
    ["getExchangeEntryByUrl", () => w.getExchangeEntryByUrl({ exchangeBaseUrl: UNKNOWN })],
    ["getExchangeResources", () => w.getExchangeResources({ exchangeBaseUrl: UNKNOWN })],
    ["setExchangeTosAccepted", () => w.setExchangeTosAccepted({ exchangeBaseUrl: UNKNOWN, etag: "v1" })],
    ["setExchangeTosForgotten", () => w.setExchangeTosForgotten({ exchangeBaseUrl: UNKNOWN })],
    ["setExchangeSuspended", () => w.setExchangeSuspended({ exchangeBaseUrl: UNKNOWN, suspended: true })],
    ["deleteExchange", () => w.deleteExchange({ exchangeBaseUrl: UNKNOWN })],
    ["updateExchange", () => w.updateExchange({ exchangeBaseUrl: UNKNOWN })],
    ["getExchangeTos", () => w.getExchangeTos({ exchangeBaseUrl: UNKNOWN })],
    [
      "recordWithdrawal",
      () => w.recordWithdrawal({ exchangeBaseUrl: UNKNOWN, coins: [{ coinPub: "new", denomPubHash: "d", value: "KUDOS:1" }] }),
    ],
  ])("%s refuses an exchange never added with exchange-unknown", async (_, call) => {
    await expectRefusedUnchanged(call, "exchange-unknown");
  });
});

describe("bad amounts", () => {
  const withdrawValue = (value: unknown) => () =>
    w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "fresh-coin", denomPubHash: "d", value: any(value) }] });

  it.each([
    ["no value", "KUDOS"],
    ["negative", "KUDOS:-1"],
    ["nine fraction digits", "KUDOS:1.123456789"],
    ["a number", 5],
    ["zero", "KUDOS:0"],
    ["empty", ""],
    ["a space", "KUDOS: 1"],
    ["an exponent", "KUDOS:1e3"],
    ["over 2^52", `KUDOS:${2 ** 53}`],
  ])("a coin value with %s is amount-invalid", async (_, value) => {
    await expectRefusedUnchanged(withdrawValue(value), "amount-invalid");
  });

  it.each([
    ["no value", "KUDOS"],
    ["negative", "KUDOS:-1"],
    ["nine fraction digits", "KUDOS:1.123456789"],
    ["a number", 5],
    ["zero", "KUDOS:0"],
  ])("a spend amount with %s is amount-invalid", async (_, amount) => {
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-1", amount: any(amount) }), "amount-invalid");
  });

  it("an instructed withdrawal amount that is malformed is amount-invalid", async () => {
    await expectRefusedUnchanged(
      () => w.recordWithdrawal({ exchangeBaseUrl: EX, amount: "10 KUDOS", coins: [] }),
      "amount-invalid",
    );
  });
});

describe("wrong field types", () => {
  it.each([
    ["preset not a boolean", () => w.addExchange({ exchangeBaseUrl: "https://new.example/", preset: any("yes") })],
    ["suspended not a boolean", () => w.setExchangeSuspended({ exchangeBaseUrl: EX, suspended: any("yes") })],
    ["etag empty", () => w.setExchangeTosAccepted({ exchangeBaseUrl: EX, etag: "" })],
    ["etag a number", () => w.setExchangeTosAccepted({ exchangeBaseUrl: EX, etag: any(5) })],
    ["purge not a boolean", () => w.deleteExchange({ exchangeBaseUrl: EX, purge: any(1) })],
    ["filter unknown", () => w.listExchanges({ filterByExchangeEntryStatus: any("gone") })],
    ["coins not an array", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: any({ coinPub: "c" }) })],
    ["a coin not an object", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: any(["c"]) })],
    ["coinPub a number", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [any({ coinPub: 5, denomPubHash: "d", value: "KUDOS:1" })] })],
    ["coinPub empty", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "", denomPubHash: "d", value: "KUDOS:1" }] })],
    ["denomPubHash missing", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [any({ coinPub: "c", value: "KUDOS:1" })] })],
    ["coinPriv a number", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [any({ coinPub: "c", denomPubHash: "d", value: "KUDOS:1", coinPriv: 1 })] })],
    ["withdrawalGroupId empty", () => w.recordWithdrawal({ exchangeBaseUrl: EX, withdrawalGroupId: "", coins: [] })],
    ["neither coins nor amount", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [] })],
    ["spend coinPub a number", () => w.recordSpend({ coinPub: any(5), amount: "KUDOS:1" })],
    ["spendId empty", () => w.recordSpend({ coinPub: "coin-1", amount: "KUDOS:0.5", spendId: "" })],
    ["purchaseId a number", () => w.recordSpend({ coinPub: "coin-1", amount: "KUDOS:0.5", purchaseId: any(3) })],
    ["abort group id a number", () => w.abortWithdrawal({ withdrawalGroupId: any(3) })],
    ["refresh without inputs", () => w.recordRefresh({ inputs: [], outputs: [] })],
    // Holes of a sparse array are items like any other: `map` would have skipped them.
    ["coins a sparse array", () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: any(new Array(2)) })],
    ["refresh inputs a sparse array", () => w.recordRefresh({ inputs: any(new Array(2)), outputs: [] })],
    ["a hole among refresh outputs", () => w.recordRefresh({ inputs: [{ coinPub: "coin-1", amount: "KUDOS:1" }], outputs: any([, { coinPub: "r-1", denomPubHash: "d", value: "KUDOS:0.5" }]) })],
    ["a language list with a hole", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: any(["en", , "de"]) })],
    // They go into HTTP headers: what would break the header is the request's fault, not the network's.
    ["a language with a line break", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: "en\r\nX-Injected: 1" })],
    ["a format with a NUL", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptFormat: ["text/plain\u0000"] })],
    ["a format beyond Latin-1", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptFormat: "text/plain; charset=ü€" })],
    ["an empty language", () => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: [""] })],
    ["a pending-updates time past the year 9999", () => w.runPendingUpdates({ now: 253_402_300_800_000 })],
  ])("%s is request-invalid", async (_, call) => {
    await expectRefusedUnchanged(call, "request-invalid");
  });

  it("a recovery whose provider list has a hole is request-invalid", async () => {
    const { walletRootPriv } = await w.getBackupRecovery();
    await expectRefusedUnchanged(() => w.loadBackupRecovery({ recovery: { walletRootPriv, providers: new Array(1) } }), "request-invalid");
  });

  it("a language list of more than 32 items is request-too-large", async () => {
    await expectRefusedUnchanged(() => w.getExchangeTos({ exchangeBaseUrl: EX, acceptLanguage: Array.from({ length: 33 }, (_, i) => `x-${i}`) }), "request-too-large");
  });
});

describe("coin invariants", () => {
  it("a spend of an unknown coin is coin-unknown", async () => {
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "no-such-coin", amount: "KUDOS:1" }), "coin-unknown");
    await expectRefusedUnchanged(() => w.getCoin({ coinPub: "no-such-coin" }), "coin-unknown");
    await expectRefusedUnchanged(
      () => w.recordRefresh({ inputs: [{ coinPub: "no-such-coin", amount: "KUDOS:1" }], outputs: [] }),
      "coin-unknown",
    );
  });

  it("a spend over what the coin has left is coin-overspent, also after partial spends", async () => {
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-1", amount: "KUDOS:1.00000001" }), "coin-overspent");
    // coin-5 has 3 left after spend-1.
    const e = await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-5", amount: "KUDOS:3.5" }), "coin-overspent");
    expect(e.details?.left).toBe("KUDOS:3");
  });

  it("a spend in another currency than the coin's is currency-mismatch", async () => {
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-1", amount: "TESTKUDOS:0.5" }), "currency-mismatch");
  });

  it("a withdrawal mixing currencies is currency-mismatch", async () => {
    await expectRefusedUnchanged(
      () =>
        w.recordWithdrawal({
          exchangeBaseUrl: EX,
          coins: [
            { coinPub: "mix-1", denomPubHash: "d", value: "KUDOS:1" },
            { coinPub: "mix-2", denomPubHash: "d", value: "EUR:1" },
          ],
        }),
      "currency-mismatch",
    );
  });

  it("a coin recorded before, or twice in one request, is coin-duplicate", async () => {
    await expectRefusedUnchanged(
      () => w.recordWithdrawal({ exchangeBaseUrl: EX, coins: [{ coinPub: "coin-1", denomPubHash: "d1", value: "KUDOS:1" }] }),
      "coin-duplicate",
    );
    await expectRefusedUnchanged(
      () =>
        w.recordWithdrawal({
          exchangeBaseUrl: EX,
          coins: [
            { coinPub: "twin", denomPubHash: "d", value: "KUDOS:1" },
            { coinPub: "twin", denomPubHash: "d", value: "KUDOS:1" },
          ],
        }),
      "coin-duplicate",
    );
  });

  it("the same spend id with another amount is spend-duplicate", async () => {
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-5", amount: "KUDOS:1", spendId: "spend-1" }), "spend-duplicate");
  });

  it("withdrawing from or spending at a suspended exchange is exchange-suspended", async () => {
    await expectRefusedUnchanged(
      () => w.recordWithdrawal({ exchangeBaseUrl: EX_SUSPENDED, coins: [{ coinPub: "s2", denomPubHash: "d", value: "KUDOS:1" }] }),
      "exchange-suspended",
    );
    await expectRefusedUnchanged(() => w.recordSpend({ coinPub: "coin-s", amount: "KUDOS:0.5" }), "exchange-suspended");
    await expectRefusedUnchanged(() => w.updateExchange({ exchangeBaseUrl: EX_SUSPENDED }), "exchange-suspended");
  });

  it("deleting an exchange that holds coins without purge is exchange-has-resources", async () => {
    await expectRefusedUnchanged(() => w.deleteExchange({ exchangeBaseUrl: EX }), "exchange-has-resources");
  });

  it("a withdrawal into a group of another exchange is withdrawal-group-mismatch", async () => {
    await w.addExchange({ exchangeBaseUrl: "https://other.example/" });
    await expectRefusedUnchanged(
      () =>
        w.recordWithdrawal({
          exchangeBaseUrl: "https://other.example/",
          withdrawalGroupId: "wg-1",
          coins: [{ coinPub: "o1", denomPubHash: "d", value: "KUDOS:1" }],
        }),
      "withdrawal-group-mismatch",
    );
  });

  it("aborting an unknown withdrawal group is withdrawal-group-unknown", async () => {
    await expectRefusedUnchanged(() => w.abortWithdrawal({ withdrawalGroupId: "no-such-group" }), "withdrawal-group-unknown");
  });

  it("a refresh producing more than it consumes is refresh-unbalanced", async () => {
    await expectRefusedUnchanged(
      () =>
        w.recordRefresh({
          inputs: [{ coinPub: "coin-1", amount: "KUDOS:0.5" }],
          outputs: [{ coinPub: "r1", denomPubHash: "d", value: "KUDOS:0.6" }],
        }),
      "refresh-unbalanced",
    );
  });
});

describe("importEvents refuses bad events and changes nothing", () => {
  const base = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    device: "dev-y",
    seq: 1,
    lamport: 1,
    deps: {},
    time: NOW,
    type: "exchange-added",
    data: { url: "https://y.example/", preset: false },
    ...over,
  });
  const importing = (events: unknown) => () => w.importEvents(any(events));

  it("accepts the well-formed base event (so the refusals below are about their one change)", async () => {
    const d = tempDir();
    const probe = await openWallet({ path: d.path });
    try {
      expect(await probe.importEvents([base() as unknown as WalletEvent])).toEqual({ added: 1, known: 0 });
    } finally {
      await probe.close();
      d.cleanup();
    }
  });

  it.each([
    ["an unknown type", base({ type: "exchange-exploded" })],
    ["an empty type", base({ type: "" })],
    ["a type that is not a string", base({ type: 7 })],
  ])("an event with %s is event-unknown-type", async (_, e) => {
    await expectRefusedUnchanged(importing([e]), "event-unknown-type");
  });

  it.each([
    ["a payload field of the wrong type", base({ data: { url: 5, preset: false } })],
    ["a payload field missing", base({ data: { url: "https://y.example/" } })],
    ["an extra payload field", base({ data: { url: "https://y.example/", preset: false, extra: 1 } })],
    ["a payload that is not an object", base({ data: "exchange" })],
    ["a non-canonical URL", base({ data: { url: "https://Y.example", preset: false } })],
    ["a non-canonical amount", base({ type: "coin-spent", data: { spendId: "s", coinPub: "c", amount: "KUDOS:1.50" } })],
    ["an extra envelope field", base({ signature: "x" })],
    ["seq 0", base({ seq: 0 })],
    ["lamport missing", base({ lamport: undefined })],
    ["a fractional time", base({ time: 1.5 })],
    ["an invalid device id", base({ device: "dev y" })],
    ["deps that are not a clock", base({ deps: [] })],
    ["deps without the author's previous seq", base({ seq: 2, prev: "X", deps: {} })],
    ["a prev on a first event", base({ prev: "X" })],
    ["an event that is not an object", "exchange-added"],
    ["null", null],
  ])("an event with %s is event-invalid", async (_, e) => {
    await expectRefusedUnchanged(importing([e]), "event-invalid");
  });

  it.each([
    ["exchange-update-attempted", { url: "https://y.example/" }],
    ["exchange-update-settled", { url: "https://y.example/", ok: true }],
  ])("a device-local %s is event-local-not-shareable", async (type, data) => {
    await expectRefusedUnchanged(importing([base({ type, data })]), "event-local-not-shareable");
  });

  it.each([
    ["an object", { events: [] }],
    ["a string", "[]"],
    ["null", null],
    ["a number", 42],
    ["undefined", undefined],
  ])("a batch that is %s instead of an array is request-invalid", async (_, batch) => {
    await expectRefusedUnchanged(importing(batch), "request-invalid");
  });

  it("one bad event after good ones refuses the whole batch", async () => {
    const bad = { ...remote[remote.length - 1], data: { ...(remote[remote.length - 1].data as object), extra: true } };
    const e = await expectRefusedUnchanged(importing([...remote.slice(0, -1), bad]), "event-invalid");
    expect(e.message).toContain(`events[${remote.length - 1}]`);
  });

  it("a gap, a broken chain, a forged own event or an equivocation is refused with its import-* code", async () => {
    await expectRefusedUnchanged(importing([remote[0], remote[2]]), "import-missing-deps");
    const forged = { ...remote[1], prev: remote[0].prev ?? "0".repeat(103) };
    await expectRefusedUnchanged(importing([remote[0], forged]), "import-broken-chain");
    const own = base({ device: "dev-main", seq: 100, lamport: 100, deps: { "dev-main": 99 }, prev: "X" });
    await expectRefusedUnchanged(importing([own]), "import-own-device");
    const twin = { ...remote[0], time: remote[0].time + 1 };
    await expectRefusedUnchanged(importing([remote[0], twin]), "import-equivocation");
    // Out of seq order too (a batch kept by seq, not as the ascending list), and a gap found by bisection.
    const later = { ...remote[1], time: remote[1].time + 1 };
    await expectRefusedUnchanged(importing([remote[1], remote[0], later]), "import-equivocation");
    await expectRefusedUnchanged(importing([remote[2], remote[0]]), "import-missing-deps");
  });

  it("the same log imports cleanly afterwards: the refusals left no trace", async () => {
    const d = tempDir();
    const fresh = await openWallet({ path: d.path });
    try {
      expect(await fresh.importEvents(remote)).toEqual({ added: remote.length, known: 0 });
      expect(await fresh.getVectorClock()).toEqual({ "dev-x": remote.length });
    } finally {
      await fresh.close();
      d.cleanup();
    }
  });
});

describe("lifecycle misuse", () => {
  it("openWallet without a path is request-invalid", async () => {
    for (const path of ["", undefined, 5]) {
      const e = await openWallet(any({ path })).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WalletError);
      expect((e as WalletError).code).toBe("request-invalid");
    }
  });

  it("every request on a closed wallet is wallet-closed", async () => {
    const { wallet, cleanup } = await tempWallet();
    await wallet.addExchange({ exchangeBaseUrl: EX });
    await wallet.close();
    await wallet.close(); // closing twice is harmless
    for (const call of [
      () => wallet.addExchange({ exchangeBaseUrl: EX }),
      () => wallet.listExchanges(),
      () => wallet.exportEvents(),
      () => wallet.importEvents([]),
      () => wallet.getBalances(),
      () => wallet.rebuild(),
    ]) {
      const e = await call().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WalletError);
      expect((e as WalletError).code).toBe("wallet-closed");
    }
    await cleanup();
  });
});

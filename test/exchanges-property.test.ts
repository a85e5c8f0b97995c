// DD 48 laws on random histories: random wallet requests over 2–3 exchanges,
// each served by its own test exchange over loopback HTTP, interleaved with
// random server behaviour (faults, key rotation, version changes, expired
// denominations, new terms, reset). After every step the projections are
// checked against an independent fold of the exported log, and the laws below
// must hold. PROPERTY_RUNS raises the number of runs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openWallet,
  WalletError,
  type ExchangeListItem,
  type Wallet,
  type WalletEvent,
} from "../src/index.ts";
import { checkIncrementalEqualsRebuild, startTestExchange, type ExchangeFault, type TestExchange } from "../src/testing/index.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 50);
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const CURRENCIES = ["KUDOS", "TESTKUDOS", "EUR"];
const UPDATE_STATUSES = ["initial", "initial-update", "suspended", "unavailable-update", "ready", "ready-update"];
const ENTRY_STATUSES = ["preset", "ephemeral", "used"];
const TOS_STATUSES = ["pending", "proposed", "accepted"];

type ServerAction =
  | { do: "fault"; fault: ExchangeFault | undefined }
  | { do: "rotate-master-key" }
  | { do: "set-version"; version: string }
  | { do: "denominations-expired"; expired: boolean }
  | { do: "new-tos"; version: string }
  | { do: "reset" };

type Step =
  | { kind: "add"; ex: number; preset: boolean }
  | { kind: "update"; ex: number; force: boolean }
  | { kind: "get-tos"; ex: number; lang: string }
  | { kind: "accept-current-tos"; ex: number }
  | { kind: "accept-tos"; ex: number; etag: string }
  | { kind: "forget-tos"; ex: number }
  | { kind: "suspend"; ex: number; suspended: boolean }
  | { kind: "withdraw"; ex: number }
  | { kind: "delete"; ex: number; purge: boolean }
  | { kind: "run-pending-updates" }
  | { kind: "advance-clock"; ms: number }
  | { kind: "server"; ex: number; action: ServerAction };

// Skewed towards the first exchange so that one exchange lives through long histories.
const exIndex = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) });
const faultArb: fc.Arbitrary<ExchangeFault | undefined> = fc.constantFrom<ExchangeFault | undefined>(
  undefined,
  { kind: "http-500" },
  { kind: "http-500", path: "keys" },
  { kind: "http-500", path: "terms" },
  { kind: "hang" },
  { kind: "hang", path: "terms" },
  { kind: "reset" },
  { kind: "reset", path: "keys" },
  { kind: "malformed-json" },
  { kind: "missing-field", field: "master_public_key" },
  { kind: "missing-field", field: "denominations[0].denoms[0].stamp_expire_withdraw" },
);
const serverActionArb: fc.Arbitrary<ServerAction> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ do: fc.constant("fault" as const), fault: faultArb }) },
  fc.constant({ do: "rotate-master-key" as const }),
  fc.record({ do: fc.constant("set-version" as const), version: fc.constantFrom("30:0:0", "23:0:6", "24:1:7") }),
  fc.record({ do: fc.constant("denominations-expired" as const), expired: fc.boolean() }),
  fc.record({ do: fc.constant("new-tos" as const), version: fc.constantFrom("v1", "v2", "v3") }),
  fc.constant({ do: "reset" as const }),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("add" as const), ex: exIndex, preset: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("update" as const), ex: exIndex, force: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("get-tos" as const), ex: exIndex, lang: fc.constantFrom("en", "de") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("accept-current-tos" as const), ex: exIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("accept-tos" as const), ex: exIndex, etag: fc.constantFrom("v1", "v2", "v3", "bogus") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forget-tos" as const), ex: exIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("suspend" as const), ex: exIndex, suspended: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), ex: exIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), ex: exIndex, purge: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: "run-pending-updates" as const }) },
  // 31 days: past denomination expiry and the default ephemeral GC age.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("advance-clock" as const), ms: fc.constantFrom(60_000, 3_600_000, 31 * 86_400_000) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("server" as const), ex: exIndex, action: serverActionArb }) },
);

/** What the log says about one exchange, folded independently of the engine's projections (one device: seq order is causal order). */
interface Oracle {
  preset: boolean;
  ephemeral: boolean;
  used: boolean;
  offered?: string;
  accepted?: string;
  suspended: boolean;
}

function foldLog(events: WalletEvent[]): Map<string, Oracle> {
  const out = new Map<string, Oracle>();
  const fresh = (): Oracle => ({ preset: false, ephemeral: false, used: false, suspended: false });
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    const url = (e.data as { url?: string }).url;
    if (url === undefined) continue;
    const o = out.get(url) ?? fresh();
    const d = e.data as { preset?: boolean; etag?: string };
    switch (e.type) {
      case "exchange-added":
        if (d.preset) o.preset = true;
        else o.ephemeral = true;
        break;
      case "exchange-keys-fetched":
      case "exchange-update-failed":
        o.ephemeral = true;
        break;
      case "exchange-tos-offered":
        o.ephemeral = true;
        o.offered = d.etag;
        break;
      case "exchange-tos-accepted":
        o.accepted = d.etag;
        break;
      case "exchange-tos-forgotten":
        o.accepted = undefined;
        break;
      case "exchange-suspended":
        o.suspended = true;
        break;
      case "exchange-unsuspended":
        o.suspended = false;
        break;
      case "coins-withdrawn":
      case "coins-refreshed":
        o.used = true;
        break;
      case "exchange-deleted":
        out.set(url, fresh());
        continue;
    }
    out.set(url, o);
  }
  return out;
}

const oracleEntry = (o: Oracle | undefined) => (!o ? undefined : o.used ? "used" : o.ephemeral ? "ephemeral" : o.preset ? "preset" : undefined);

describe("DD 48 exchange lifecycle on random histories", () => {
  const servers: TestExchange[] = [];
  beforeAll(async () => {
    for (const currency of CURRENCIES) servers.push(await startTestExchange({ now: () => NOW, currency }));
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it("used is absorbing, ToS accepted iff the accepted etag is current, suspended and preset exchanges are not contacted, every refusal is a WalletError, and incremental projection equals rebuild", async () => {
    let coinCounter = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 3 }), fc.array(stepArb, { minLength: 6, maxLength: 30, size: "max" }), async (nEx, steps) => {
        for (const s of servers) s.reset();
        const models = servers.map(freshServerModel);
        const dir = mkdtempSync(join(tmpdir(), "dd48-prop-"));
        const clock = { t: NOW };
        // 500 ms: a hanging exchange must time out, but a loaded CI machine must not make a healthy one look hung.
        const w = await openWallet({ path: dir, now: () => clock.t, httpTimeoutMs: 500 });
        // Exchanges this run made used and has not deleted since.
        const usedModel = new Set<string>();
        try {
          for (const [i, raw] of steps.entries()) {
            const step = "ex" in raw ? { ...raw, ex: raw.ex % nEx } : raw;
            const at = `step ${i} ${JSON.stringify(step)}`;
            await runStep({ w, clock, servers, models, usedModel, nextCoin: () => ++coinCounter }, step, at);
            await checkInvariants(w, usedModel, at);
          }
        } finally {
          await w.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS },
    );
    // Deep runs (PROPERTY_RUNS) need more than the default test timeout.
  }, Math.max(60_000, RUNS * 2_000));
});

async function listed(w: Wallet): Promise<Map<string, ExchangeListItem>> {
  return new Map((await w.listExchanges()).exchanges.map((e) => [e.exchangeBaseUrl, e]));
}

/** What the test knows about one test exchange's behaviour right now. */
interface ServerModel {
  fault?: ExchangeFault;
  version: string;
  expired: boolean;
  tosVersion: string;
}

const freshServerModel = (): ServerModel => ({ version: "23:0:6", expired: false, tosVersion: "v1" });

interface Run {
  w: Wallet;
  clock: { t: number };
  servers: TestExchange[];
  models: ServerModel[];
  usedModel: Set<string>;
  nextCoin: () => number;
}

const faultHits = (f: ExchangeFault | undefined, endpoint: "keys" | "terms") => f !== undefined && (f.path === undefined || f.path === endpoint);

const KEYS_FAULT_CODES: Record<ExchangeFault["kind"], string> = {
  "http-500": "exchange-http-error",
  hang: "exchange-timeout",
  reset: "exchange-network-error",
  "malformed-json": "exchange-malformed-response",
  "missing-field": "exchange-keys-invalid",
  "set-field": "exchange-keys-invalid",
};

/**
 * The DD 48 outcome an update must have, from what the test knows of the
 * server and what the wallet had recorded before: the first failure wins,
 * in the order the exchange client meets them.
 */
function checkUpdateOutcome(run: Run, ex: number, prior: ExchangeListItem | undefined, item: ExchangeListItem, at: string): void {
  const m = run.models[ex];
  const serverPub = run.servers[ex].masterPub();
  const priorPub = prior?.masterPub;
  let code: string | undefined;
  if (faultHits(m.fault, "keys")) code = KEYS_FAULT_CODES[m.fault!.kind];
  else if (m.version === "30:0:0") code = "exchange-version-incompatible";
  else if (priorPub !== undefined && priorPub !== serverPub) code = "exchange-master-pub-changed";
  else if (m.expired || run.clock.t >= NOW + 30 * 86_400_000) code = "exchange-denominations-expired";
  const what = `${at}: update of ${item.exchangeBaseUrl} (server ${JSON.stringify(m)})`;
  if (code === undefined && item.tosStatus === "pending" && faultHits(m.fault, "terms")) {
    // DD 48: a ToS that could not be fetched stays pending and says why.
    expect(item.lastUpdateErrorInfo?.code, what).toMatch(/^exchange-/);
  } else {
    expect(item.lastUpdateErrorInfo?.code, what).toBe(code);
  }
  if (code === undefined) expect(item.exchangeUpdateStatus, what).toBe("ready");
  // DD 48: an incompatible protocol makes the exchange unavailable even before its first /keys.
  else expect(item.exchangeUpdateStatus, what).toBe(item.currency === undefined && code !== "exchange-version-incompatible" ? "initial-update" : "unavailable-update");
  // A new master key is never adopted over a recorded one; a first /keys always is.
  const adopts = code === undefined || code === "exchange-denominations-expired";
  expect(item.masterPub, what).toBe(priorPub !== undefined ? priorPub : adopts ? serverPub : undefined);
}

async function runStep(run: Run, step: Step, at: string): Promise<void> {
  const { w, clock, servers, models, usedModel, nextCoin } = run;
  if (step.kind === "server") {
    const s = servers[step.ex];
    const m = models[step.ex];
    const a = step.action;
    if (a.do === "fault") {
      s.setFault(a.fault);
      m.fault = a.fault;
    } else if (a.do === "rotate-master-key") s.rotateMasterKey();
    else if (a.do === "set-version") s.setVersion((m.version = a.version));
    else if (a.do === "denominations-expired") s.setDenominationsExpired((m.expired = a.expired));
    else if (a.do === "new-tos") s.setTos({ version: (m.tosVersion = a.version), languages: { en: { "text/plain": `Terms ${a.version}` } } });
    else {
      s.reset();
      models[step.ex] = freshServerModel();
    }
    return;
  }
  if (step.kind === "advance-clock") {
    clock.t += step.ms;
    return;
  }

  const url = "ex" in step ? servers[step.ex].baseUrl : undefined;
  const before = await listed(w);
  const requestsBefore = servers.map((s) => s.requests.length);
  let refused: unknown;
  let report: Awaited<ReturnType<Wallet["runPendingUpdates"]>> | undefined;
  try {
    switch (step.kind) {
      case "add":
        await w.addExchange({ exchangeBaseUrl: url!, preset: step.preset });
        break;
      case "update": {
        const item = await w.updateExchange({ exchangeBaseUrl: url!, force: step.force });
        expect(item, at).toEqual(await w.getExchangeEntryByUrl({ exchangeBaseUrl: url! }));
        checkUpdateOutcome(run, step.ex, before.get(url!), item, at);
        // With /keys and /terms both answering, the offered ToS is the exchange's current one.
        const m = models[step.ex];
        if (!faultHits(m.fault, "keys") && !faultHits(m.fault, "terms")) {
          expect(foldLog(await w.exportEvents()).get(url!)?.offered, `${at}: offered ToS`).toBe(m.tosVersion);
        }
        break;
      }
      case "get-tos": {
        const tos = await w.getExchangeTos({ exchangeBaseUrl: url!, acceptLanguage: step.lang });
        expect(tos.currentEtag, at).toBe(models[step.ex].tosVersion);
        expect(tos.tosStatus, at).toBe(tos.acceptedEtag === tos.currentEtag ? "accepted" : "proposed");
        break;
      }
      case "accept-current-tos": {
        const offered = foldLog(await w.exportEvents()).get(url!)?.offered;
        await w.setExchangeTosAccepted({ exchangeBaseUrl: url!, etag: offered ?? "v1" });
        if (offered !== undefined) expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: url! })).tosStatus, at).toBe("accepted");
        break;
      }
      case "accept-tos":
        await w.setExchangeTosAccepted({ exchangeBaseUrl: url!, etag: step.etag });
        break;
      case "forget-tos":
        await w.setExchangeTosForgotten({ exchangeBaseUrl: url!});
        break;
      case "suspend":
        await w.setExchangeSuspended({ exchangeBaseUrl: url!, suspended: step.suspended });
        break;
      case "withdraw": {
        const currency = CURRENCIES[servers.findIndex((s) => s.baseUrl === url)];
        await w.recordWithdrawal({ exchangeBaseUrl: url!, coins: [{ coinPub: `PROP-COIN-${nextCoin()}`, denomPubHash: "D", value: `${currency}:1` }] });
        usedModel.add(url!);
        break;
      }
      case "delete":
        await w.deleteExchange({ exchangeBaseUrl: url!, purge: step.purge });
        usedModel.delete(url!);
        expect((await listed(w)).has(url!), at).toBe(false);
        break;
      case "run-pending-updates":
        report = await w.runPendingUpdates();
        break;
    }
  } catch (e) {
    // A failed check inside a step is the test's own verdict, not a refusal by the wallet.
    if (e instanceof Error && e.name === "AssertionError") throw e;
    refused = e;
  }
  if (refused !== undefined) {
    expect(refused, `${at}: every refusal is a WalletError, got ${String(refused)}`).toBeInstanceOf(WalletError);
    expect((refused as WalletError).code, at).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  }

  // A suspended exchange is never contacted, whatever the request.
  for (const [i, s] of servers.entries()) {
    if (before.get(s.baseUrl)?.exchangeUpdateStatus === "suspended") {
      expect(s.requests.length, `${at}: suspended ${s.baseUrl} was contacted`).toBe(requestsBefore[i]);
    }
  }
  if (step.kind === "run-pending-updates") {
    // The scheduler contacts only used exchanges: presets and ephemeral ones stay untouched.
    for (const [i, s] of servers.entries()) {
      const b = before.get(s.baseUrl);
      if (b && b.exchangeEntryStatus !== "used") {
        expect(s.requests.length, `${at}: runPendingUpdates contacted ${b.exchangeEntryStatus} ${s.baseUrl}`).toBe(requestsBefore[i]);
      }
    }
    for (const u of report?.updated ?? []) {
      expect(u.exchangeEntryStatus, at).toBe("used");
      checkUpdateOutcome(run, servers.findIndex((s) => s.baseUrl === u.exchangeBaseUrl), before.get(u.exchangeBaseUrl), u, at);
    }
    for (const c of report?.collected ?? []) expect(before.get(c)?.exchangeEntryStatus, at).toBe("ephemeral");
  }
  if (step.kind === "add" && refused === undefined && !step.preset) {
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: url! })).exchangeEntryStatus, `${at}: a user add leaves no preset`).not.toBe("preset");
  }
  if (step.kind === "withdraw" && refused === undefined) {
    expect((await w.getExchangeEntryByUrl({ exchangeBaseUrl: url! })).exchangeEntryStatus, at).toBe("used");
  }
}

async function checkInvariants(w: Wallet, usedModel: Set<string>, at: string): Promise<void> {
  const items = await listed(w);
  const oracle = foldLog(await w.exportEvents());

  for (const item of items.values()) {
    expect(UPDATE_STATUSES, at).toContain(item.exchangeUpdateStatus);
    expect(ENTRY_STATUSES, at).toContain(item.exchangeEntryStatus);
    expect(TOS_STATUSES, at).toContain(item.tosStatus);
    // No update is in flight between steps.
    expect(item.exchangeUpdateStatus, at).not.toBe("ready-update");
    // An error shows with a failing update, or with a ToS that could not be fetched yet.
    if (item.lastUpdateErrorInfo && item.tosStatus !== "pending") {
      expect(["initial-update", "unavailable-update"], at).toContain(item.exchangeUpdateStatus);
    }
  }

  // The projections agree with an independent fold of the log.
  const fromLog = [...oracle].filter(([, o]) => oracleEntry(o) !== undefined).map(([u]) => u).sort();
  expect([...items.keys()].sort(), `${at}: listed exchanges`).toEqual(fromLog);
  for (const [url, item] of items) {
    const o = oracle.get(url)!;
    expect(item.exchangeEntryStatus, `${at}: entry status of ${url}`).toBe(oracleEntry(o));
    expect(item.exchangeUpdateStatus === "suspended", `${at}: suspension of ${url}`).toBe(o.suspended);
    // ToS accepted iff the accepted etag is the one currently offered.
    const tos = o.offered === undefined ? "pending" : o.accepted === o.offered ? "accepted" : "proposed";
    expect(item.tosStatus, `${at}: ToS status of ${url}`).toBe(tos);
  }

  // Used is absorbing: only a delete (which purges its resources) ends it.
  for (const url of usedModel) expect(items.get(url)?.exchangeEntryStatus, `${at}: ${url} stopped being used`).toBe("used");
  for (const [url, item] of items) if (item.exchangeEntryStatus === "used") expect(usedModel.has(url), `${at}: ${url} used unexpectedly`).toBe(true);

  await checkIncrementalEqualsRebuild(w, at);
}

// What an exchange update records (decideUpdateOutcome, decideTosOffered),
// which ephemeral exchanges are collected (decideCollectEphemeral), and this
// device's own update bookkeeping: in flight, failures, backoff.
import { describe, expect, it } from "vitest";
import type { Records } from "../../src/events/records.ts";
import { DEFAULT_SCHEDULE, getUpdateState, nextUpdateAt } from "../../src/projections/exchange-updates.ts";
import {
  decideCollectEphemeral,
  decideTosOffered,
  decideUpdateOutcome,
  exchangeView,
  getExchangeRecord,
  type UpdateFindings,
} from "../../src/projections/exchanges.ts";
import { ENGINE_EXCHANGE_PROTOCOL_VERSION, isProtocolCompatible } from "../../src/transport/exchange-client.ts";
import type { KeysFactsData } from "../../src/events/catalogue.ts";
import {
  EX,
  EX2,
  added,
  addedPreset,
  attempted,
  coin,
  deleted,
  keys,
  keysFetched,
  settled,
  spent,
  suspended,
  tosAccepted,
  tosOffered,
  updateFailed,
  withdrawn,
} from "../support/facts.ts";
import { NOW, at, given } from "../support/given.ts";

// ---------------------------------------------------------------- findings of one update run

const compatible = (v: string) => isProtocolCompatible(ENGINE_EXCHANGE_PROTOCOL_VERSION, v);
const answered = (k: KeysFactsData = keys()): UpdateFindings => ({ keys: { ok: true, notModified: false, keys: k }, compatible });
const notModified: UpdateFindings = { keys: { ok: true, notModified: true }, compatible };
const unreachable: UpdateFindings = { keys: { ok: false, code: "exchange-network-error", message: "connection refused" }, compatible };
const andTerms = (f: UpdateFindings, etag: string, termsVersion?: string): UpdateFindings => ({
  ...f,
  terms: { etag, availableLanguages: ["en", "de"], ...(termsVersion === undefined ? {} : { termsVersion }) },
});

const twoDenoms = keys({ denominations: [...keys().denominations, { ...keys().denominations[0], denomPubHash: "DENOM-2", value: "KUDOS:2" }] });

/** The DD 48 view of EX now, with this device's update state. */
const view = (records: Records, now = NOW) => exchangeView(getExchangeRecord(records, EX)!, now, getUpdateState(records, EX));

describe("decideUpdateOutcome", () => {
  it("an update of an unknown exchange is refused", () => {
    given().when(decideUpdateOutcome, { url: EX, findings: answered() }).refused("exchange-unknown");
  });
  it("an update of an exchange deleted meanwhile is refused", () => {
    given(added(EX), deleted(EX)).when(decideUpdateOutcome, { url: EX, findings: answered() }).refused("exchange-unknown");
  });
  it("the first /keys is recorded", () => {
    given(added(EX)).when(decideUpdateOutcome, { url: EX, findings: answered() }).then([keysFetched(EX)]);
  });
  it("the first /keys of a preset is recorded", () => {
    given(addedPreset(EX)).when(decideUpdateOutcome, { url: EX, findings: answered() }).then([keysFetched(EX)]);
  });
  it("the same /keys again after a success appends nothing", () => {
    given(added(EX), keysFetched(EX)).when(decideUpdateOutcome, { url: EX, findings: answered() }).thenNothing();
  });
  it("the same /keys with its fields in another order appends nothing", () => {
    const k = keys();
    const reordered = Object.fromEntries(Object.entries(k).reverse()) as KeysFactsData;
    given(added(EX), keysFetched(EX, k)).when(decideUpdateOutcome, { url: EX, findings: answered(reordered) }).thenNothing();
  });
  it("a changed /keys is recorded", () => {
    given(added(EX), keysFetched(EX)).when(decideUpdateOutcome, { url: EX, findings: answered(twoDenoms) }).then([keysFetched(EX, twoDenoms)]);
  });
  it("the same /keys after a failure is recorded again, ending the failure", () => {
    given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-timeout"))
      .when(decideUpdateOutcome, { url: EX, findings: answered() })
      .then([keysFetched(EX)]);
  });
  it("an unreachable exchange is recorded as a failure with its code and message", () => {
    given(added(EX), keysFetched(EX))
      .when(decideUpdateOutcome, { url: EX, findings: unreachable })
      .then([updateFailed(EX, "exchange-network-error", "connection refused")]);
  });
  it("the same failure again appends nothing: the attempt is local, and no device needs to hear it twice", () => {
    given(added(EX), updateFailed(EX, "exchange-network-error", "connection refused"))
      .when(decideUpdateOutcome, { url: EX, findings: unreachable })
      .thenNothing();
  });
  it("a different failure after a failure is recorded", () => {
    given(added(EX), updateFailed(EX, "exchange-timeout", "no answer"))
      .when(decideUpdateOutcome, { url: EX, findings: unreachable })
      .then([updateFailed(EX, "exchange-network-error", "connection refused")]);
  });
  it("a 304 after a success appends nothing", () => {
    given(added(EX), keysFetched(EX)).when(decideUpdateOutcome, { url: EX, findings: notModified }).thenNothing();
  });
  it("a 304 after a failure records the known /keys again, ending the failure", () => {
    given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-timeout"))
      .when(decideUpdateOutcome, { url: EX, findings: notModified })
      .then([keysFetched(EX)]);
  });
  it("a 304 with no /keys known appends nothing", () => {
    given(added(EX), updateFailed(EX, "exchange-timeout")).when(decideUpdateOutcome, { url: EX, findings: notModified }).thenNothing();
  });
  it("an incompatible protocol version is recorded as a failure, and its /keys is not adopted", () => {
    given(added(EX), keysFetched(EX))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ version: "40:0:0" })) })
      .then([updateFailed(EX, "exchange-version-incompatible", "exchange speaks protocol 40:0:0, incompatible with this wallet")]);
  });
  it("an incompatible first /keys is recorded as a failure", () => {
    given(added(EX))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ version: "1:0:0" })) })
      .then([updateFailed(EX, "exchange-version-incompatible", "exchange speaks protocol 1:0:0, incompatible with this wallet")]);
  });
  it("a new master public key is recorded as a failure, and its /keys is not adopted", () => {
    given(added(EX), keysFetched(EX))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ masterPub: "MASTER-2" })) })
      .then([updateFailed(EX, "exchange-master-pub-changed", "exchange now advertises master key MASTER-2, recorded is MASTER-1")]);
  });
  it("an incompatible version is what is reported when the master key changed too", () => {
    given(added(EX), keysFetched(EX))
      .when(decideUpdateOutcome, { url: EX, findings: answered(keys({ version: "40:0:0", masterPub: "MASTER-2" })) })
      .then([updateFailed(EX, "exchange-version-incompatible", "exchange speaks protocol 40:0:0, incompatible with this wallet")]);
  });
  it("the recorded master key back again ends a master-key failure", () => {
    given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-master-pub-changed"))
      .when(decideUpdateOutcome, { url: EX, findings: answered() })
      .then([keysFetched(EX)]);
  });
  it("new terms are recorded after the /keys", () => {
    given(added(EX))
      .when(decideUpdateOutcome, { url: EX, findings: andTerms(answered(), "tos-1", "v1") })
      .then([keysFetched(EX), tosOffered(EX, "tos-1", { termsVersion: "v1", languages: ["en", "de"] })]);
  });
  it("terms with the etag already recorded append nothing", () => {
    given(added(EX), keysFetched(EX), tosOffered(EX, "tos-1"))
      .when(decideUpdateOutcome, { url: EX, findings: andTerms(answered(), "tos-1") })
      .thenNothing();
  });
  it("new terms are recorded with a 304 for /keys", () => {
    given(added(EX), keysFetched(EX), tosOffered(EX, "tos-1"))
      .when(decideUpdateOutcome, { url: EX, findings: andTerms(notModified, "tos-2") })
      .then([tosOffered(EX, "tos-2", { languages: ["en", "de"] })]);
  });
  it("new terms are recorded beside a /keys failure", () => {
    given(added(EX))
      .when(decideUpdateOutcome, { url: EX, findings: andTerms(unreachable, "tos-1") })
      .then([updateFailed(EX, "exchange-network-error", "connection refused"), tosOffered(EX, "tos-1", { languages: ["en", "de"] })]);
  });
});

describe("decideTosOffered", () => {
  it("terms of an unknown exchange are refused", () => {
    given().when(decideTosOffered, { url: EX, terms: { etag: "tos-1", availableLanguages: ["en"] } }).refused("exchange-unknown");
  });
  it("the first terms offered are recorded", () => {
    given(added(EX))
      .when(decideTosOffered, { url: EX, terms: { etag: "tos-1", availableLanguages: ["en"] } })
      .then([tosOffered(EX, "tos-1", { languages: ["en"] })]);
  });
  it("terms carry their version and languages", () => {
    given(added(EX))
      .when(decideTosOffered, { url: EX, terms: { etag: "tos-1", termsVersion: "v1", availableLanguages: ["en", "fr"] } })
      .then([tosOffered(EX, "tos-1", { termsVersion: "v1", languages: ["en", "fr"] })]);
  });
  it("terms with the etag already offered append nothing", () => {
    given(added(EX), tosOffered(EX, "tos-1")).when(decideTosOffered, { url: EX, terms: { etag: "tos-1", availableLanguages: ["en"] } }).thenNothing();
  });
  it("terms with the etag already offered append nothing even when their languages differ", () => {
    given(added(EX), tosOffered(EX, "tos-1"))
      .when(decideTosOffered, { url: EX, terms: { etag: "tos-1", availableLanguages: ["en", "de"] } })
      .thenNothing();
  });
  it("new terms after an acceptance are recorded, and the acceptance no longer covers them", () => {
    const g = given(added(EX), keysFetched(EX), tosOffered(EX, "tos-1"), tosAccepted(EX, "tos-1"));
    expect(view(g.records)?.tosStatus).toBe("accepted");
    g.when(decideTosOffered, { url: EX, terms: { etag: "tos-2", availableLanguages: ["en"] } }).then([tosOffered(EX, "tos-2")]);
    const after = given(added(EX), keysFetched(EX), tosOffered(EX, "tos-1"), tosAccepted(EX, "tos-1"), tosOffered(EX, "tos-2"));
    expect(view(after.records)?.tosStatus).toBe("proposed");
  });
  it("terms offered to a suspended exchange are recorded", () => {
    given(added(EX), suspended(EX))
      .when(decideTosOffered, { url: EX, terms: { etag: "tos-1", availableLanguages: ["en"] } })
      .then([tosOffered(EX, "tos-1")]);
  });
});

describe("decideCollectEphemeral", () => {
  const HOUR = 3_600_000;
  const collect = { now: NOW + 2 * HOUR, gcAfterMs: HOUR };

  it("with nothing to collect, nothing is appended", () => {
    given().when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("an ephemeral exchange unused for long enough is deleted", () => {
    given(added(EX)).when(decideCollectEphemeral, collect).then([deleted(EX)], [EX]);
  });
  it("an ephemeral exchange unused for exactly the limit is deleted", () => {
    given(added(EX)).when(decideCollectEphemeral, { now: NOW + HOUR, gcAfterMs: HOUR }).then([deleted(EX)], [EX]);
  });
  it("an ephemeral exchange used a moment too recently stays", () => {
    given(added(EX)).when(decideCollectEphemeral, { now: NOW + HOUR - 1, gcAfterMs: HOUR }).thenNothing([]);
  });
  it("a fresh /keys counts as activity", () => {
    given(added(EX), at(NOW + HOUR + 1, keysFetched(EX))).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("a failed update counts as activity", () => {
    given(added(EX), at(NOW + HOUR + 1, updateFailed(EX, "exchange-timeout"))).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("offered terms do not count as activity", () => {
    given(added(EX), at(NOW + HOUR + 1, tosOffered(EX, "tos-1"))).when(decideCollectEphemeral, collect).then([deleted(EX)], [EX]);
  });
  it("a preset is never collected", () => {
    given(addedPreset(EX)).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("a used exchange is never collected, even with all its coins spent", () => {
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:1")]), spent("c1", "KUDOS:1", "s1")).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("a suspended ephemeral exchange is not collected", () => {
    given(added(EX), suspended(EX)).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("a deleted exchange is not collected again", () => {
    given(added(EX), deleted(EX)).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("an ephemeral exchange that still holds coins is not collected", () => {
    // Ephemeral with coins: a plain delete that saw coins with value left (no decider of this
    // engine emits one, a peer's log may hold it), then an add.
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:1")]), deleted(EX), added(EX)).when(decideCollectEphemeral, collect).thenNothing([]);
  });
  it("several stale exchanges are deleted together, in URL order", () => {
    given(added(EX2), added(EX), at(NOW + 2 * HOUR, added("https://ex3.test/")))
      .when(decideCollectEphemeral, collect)
      .then([deleted(EX), deleted(EX2)], [EX, EX2]);
  });
});

describe("this device's update state", () => {
  const { retryBaseMs, maxRetryDelayMs, refreshIntervalMs } = DEFAULT_SCHEDULE;
  const state = (records: Records, url = EX) => getUpdateState(records, url);
  const next = (records: Records) => nextUpdateAt(state(records), DEFAULT_SCHEDULE);
  const failedAttempts = (n: number, from = NOW) =>
    Array.from({ length: n }, (_, i) => [at(from + i, attempted(EX)), at(from + i, settled(EX, false))]).flat();

  it("an exchange never updated is due at once", () => {
    const g = given(added(EX));
    expect(state(g.records)).toEqual({ inFlight: 0, failures: 0 });
    expect(next(g.records)).toBe(0);
  });
  it("an attempt puts the update in flight", () => {
    const g = given(added(EX), at(NOW + 5, attempted(EX)));
    expect(state(g.records)).toEqual({ inFlight: 1, failures: 0, lastAttemptAt: NOW + 5 });
  });
  it("a successful attempt settles it and is due again after the refresh interval", () => {
    const g = given(added(EX), attempted(EX), at(NOW + 7, settled(EX, true, { keysEtag: "k1" })));
    expect(state(g.records)).toEqual({ inFlight: 0, failures: 0, lastAttemptAt: NOW, lastSuccessAt: NOW + 7, keysEtag: "k1" });
    expect(next(g.records)).toBe(NOW + 7 + refreshIntervalMs);
  });
  it("a failed attempt counts a failure and retries after the base delay", () => {
    const g = given(added(EX), attempted(EX), at(NOW + 7, settled(EX, false)));
    expect(state(g.records)).toEqual({ inFlight: 0, failures: 1, lastAttemptAt: NOW });
    expect(next(g.records)).toBe(NOW + retryBaseMs);
  });
  it("each further failure doubles the delay from the last attempt", () => {
    const g = given(added(EX), ...failedAttempts(3));
    expect(state(g.records).failures).toBe(3);
    expect(next(g.records)).toBe(NOW + 2 + 4 * retryBaseMs);
  });
  it("the delay stops growing at the maximum", () => {
    const g = given(added(EX), ...failedAttempts(12));
    expect(next(g.records)).toBe(NOW + 11 + maxRetryDelayMs);
  });
  it("a thousand failures still wait the maximum, not Infinity", () => {
    const g = given(added(EX), ...failedAttempts(1000));
    expect(next(g.records)).toBe(NOW + 999 + maxRetryDelayMs);
  });
  it("a success after failures forgets them", () => {
    const g = given(added(EX), ...failedAttempts(3), at(NOW + 100, attempted(EX)), at(NOW + 101, settled(EX, true)));
    expect(state(g.records)).toEqual({ inFlight: 0, failures: 0, lastAttemptAt: NOW + 100, lastSuccessAt: NOW + 101 });
    expect(next(g.records)).toBe(NOW + 101 + refreshIntervalMs);
  });
  it("an interrupted attempt is no longer in flight, and is neither a failure nor a success", () => {
    const g = given(
      added(EX),
      attempted(EX),
      at(NOW + 1, settled(EX, true, { keysEtag: "k1" })),
      at(NOW + 50, attempted(EX)),
      at(NOW + 51, settled(EX, false, { interrupted: true })),
    );
    expect(state(g.records)).toEqual({ inFlight: 0, failures: 0, lastAttemptAt: NOW + 50, lastSuccessAt: NOW + 1, keysEtag: "k1" });
    expect(next(g.records)).toBe(NOW + 1 + refreshIntervalMs);
  });
  it("an interrupted attempt keeps the failures counted before it", () => {
    const g = given(added(EX), ...failedAttempts(2), at(NOW + 50, attempted(EX)), at(NOW + 51, settled(EX, false, { interrupted: true })));
    expect(state(g.records).failures).toBe(2);
    // The backoff now counts from the interrupted attempt.
    expect(next(g.records)).toBe(NOW + 50 + 2 * retryBaseMs);
  });
  it("a settlement without a /keys etag keeps the one before", () => {
    const g = given(added(EX), attempted(EX), settled(EX, true, { keysEtag: "k1" }), attempted(EX), settled(EX, true));
    expect(state(g.records).keysEtag).toBe("k1");
  });
  it("a settlement with a new /keys etag replaces the one before", () => {
    const g = given(added(EX), attempted(EX), settled(EX, true, { keysEtag: "k1" }), attempted(EX), settled(EX, true, { keysEtag: "k2" }));
    expect(state(g.records).keysEtag).toBe("k2");
  });
  it("why /terms failed is kept until the next settlement", () => {
    const termsError = { code: "exchange-terms-invalid", message: "no ETag" };
    const failedTerms = given(added(EX), attempted(EX), settled(EX, true, { termsError }));
    expect(state(failedTerms.records).termsError).toEqual(termsError);
    const thenFine = given(added(EX), attempted(EX), settled(EX, true, { termsError }), attempted(EX), settled(EX, true));
    expect(state(thenFine.records).termsError).toBeUndefined();
  });
  it("each exchange has its own update state", () => {
    const g = given(added(EX), added(EX2), attempted(EX2), settled(EX2, false));
    expect(state(g.records, EX)).toEqual({ inFlight: 0, failures: 0 });
    expect(state(g.records, EX2).failures).toBe(1);
  });
  it("this device's attempts leave the shared exchange record as it was", () => {
    const before = given(added(EX), keysFetched(EX));
    const after = given(added(EX), keysFetched(EX), attempted(EX), settled(EX, false));
    expect(getExchangeRecord(after.records, EX)).toEqual(getExchangeRecord(before.records, EX));
  });
});

describe("the DD 48 update status, from shared outcomes and this device's state", () => {
  it("a preset nobody updated needs no update", () => {
    expect(view(given(addedPreset(EX)).records)?.exchangeUpdateStatus).toBe("initial");
  });
  it("a preset being updated awaits its first /keys", () => {
    expect(view(given(addedPreset(EX), attempted(EX)).records)?.exchangeUpdateStatus).toBe("initial-update");
  });
  it("an ephemeral exchange without /keys awaits its first /keys", () => {
    expect(view(given(added(EX)).records)?.exchangeUpdateStatus).toBe("initial-update");
  });
  it("an exchange with /keys is ready, and ready-update while this device updates it", () => {
    expect(view(given(added(EX), keysFetched(EX)).records)?.exchangeUpdateStatus).toBe("ready");
    expect(view(given(added(EX), keysFetched(EX), attempted(EX)).records)?.exchangeUpdateStatus).toBe("ready-update");
  });
  it("a failure after /keys makes it unavailable, with the failure's code", () => {
    const v = view(given(added(EX), keysFetched(EX), updateFailed(EX, "exchange-master-pub-changed", "new key")).records);
    expect(v).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-master-pub-changed", message: "new key" } });
  });
  it("a failure before any /keys leaves it awaiting its first /keys, with the failure's code", () => {
    const v = view(given(added(EX), updateFailed(EX, "exchange-timeout", "slow")).records);
    expect(v).toMatchObject({ exchangeUpdateStatus: "initial-update", lastUpdateErrorInfo: { code: "exchange-timeout", message: "slow" } });
  });
  it("only expired denominations make it unavailable", () => {
    const expired = keys({ denominations: [{ ...keys().denominations[0], stampExpireWithdraw: 1_704_067_300 }] });
    const v = view(given(added(EX), keysFetched(EX, expired)).records);
    expect(v).toMatchObject({ exchangeUpdateStatus: "unavailable-update", lastUpdateErrorInfo: { code: "exchange-denominations-expired" } });
  });
  it("a suspended exchange shows as suspended whatever its /keys", () => {
    expect(view(given(added(EX), keysFetched(EX), suspended(EX)).records)?.exchangeUpdateStatus).toBe("suspended");
  });
  it("a pending ToS shows why /terms failed on this device", () => {
    const termsError = { code: "exchange-terms-invalid", message: "no ETag" };
    const v = view(given(added(EX), keysFetched(EX), attempted(EX), settled(EX, true, { termsError })).records);
    expect(v).toMatchObject({ exchangeUpdateStatus: "ready", tosStatus: "pending", lastUpdateErrorInfo: termsError });
  });
});

// The events of the catalogue as short sentences, for decider specs:
// `given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]))`.
import type { CoinData, Draft, EventData, KeysFactsData } from "../../src/events/catalogue.ts";

export const EX = "https://ex1.test/";
export const EX2 = "https://ex2.test/";

export const coin = (coinPub: string, value: string, denomPubHash = "DENOM-1"): CoinData => ({ coinPub, denomPubHash, value });

/** The facts of a /keys answer: one KUDOS denomination withdrawable from 2024 on, unless overridden. */
export function keys(over: Partial<KeysFactsData> = {}): KeysFactsData {
  const zero = `${over.currency ?? "KUDOS"}:0`;
  return {
    currency: "KUDOS",
    masterPub: "MASTER-1",
    version: "23:0:6",
    reserveClosingDelayUs: 0,
    listIssueDate: 1_704_067_200,
    denominations: [
      {
        denomPubHash: "DENOM-1",
        cipher: "RSA",
        value: `${over.currency ?? "KUDOS"}:1`,
        feeWithdraw: zero,
        feeDeposit: zero,
        feeRefresh: zero,
        feeRefund: zero,
        stampStart: 1_704_067_200,
        stampExpireWithdraw: "never",
        stampExpireDeposit: "never",
        stampExpireLegal: "never",
      },
    ],
    signkeys: [],
    ...over,
  };
}

// ---------------------------------------------------------------- exchanges

export const added = (url: string): Draft<"exchange-added"> => ({ type: "exchange-added", data: { url, preset: false } });
export const addedPreset = (url: string): Draft<"exchange-added"> => ({ type: "exchange-added", data: { url, preset: true } });
export const keysFetched = (url: string, k: KeysFactsData = keys()): Draft<"exchange-keys-fetched"> => ({
  type: "exchange-keys-fetched",
  data: { url, keys: k },
});
export const updateFailed = (url: string, code: string, message = "it failed"): Draft<"exchange-update-failed"> => ({
  type: "exchange-update-failed",
  data: { url, code, message },
});
export const tosOffered = (
  url: string,
  etag: string,
  more: { termsVersion?: string; languages?: string[] } = {},
): Draft<"exchange-tos-offered"> => {
  const data: EventData<"exchange-tos-offered"> = { url, etag, languages: more.languages ?? ["en"] };
  if (more.termsVersion !== undefined) data.termsVersion = more.termsVersion;
  return { type: "exchange-tos-offered", data };
};
export const tosAccepted = (url: string, etag: string): Draft<"exchange-tos-accepted"> => ({
  type: "exchange-tos-accepted",
  data: { url, etag },
});
export const tosForgotten = (url: string): Draft<"exchange-tos-forgotten"> => ({ type: "exchange-tos-forgotten", data: { url } });
export const suspended = (url: string): Draft<"exchange-suspended"> => ({ type: "exchange-suspended", data: { url } });
export const unsuspended = (url: string): Draft<"exchange-unsuspended"> => ({ type: "exchange-unsuspended", data: { url } });
export const deleted = (url: string): Draft<"exchange-deleted"> => ({ type: "exchange-deleted", data: { url, purge: false } });
export const purged = (url: string): Draft<"exchange-deleted"> => ({ type: "exchange-deleted", data: { url, purge: true } });

// ---------------------------------------------------------------- coins

export function withdrawn(url: string, withdrawalGroupId: string, coins: CoinData[], amount?: string): Draft<"coins-withdrawn"> {
  const data: EventData<"coins-withdrawn"> = { url, withdrawalGroupId, coins };
  if (amount !== undefined) data.amount = amount;
  return { type: "coins-withdrawn", data };
}
export function spent(coinPub: string, amount: string, spendId: string, purchaseId?: string): Draft<"coin-spent"> {
  const data: EventData<"coin-spent"> = { spendId, coinPub, amount };
  if (purchaseId !== undefined) data.purchaseId = purchaseId;
  return { type: "coin-spent", data };
}
export const refreshed = (
  refreshGroupId: string,
  url: string,
  inputs: { coinPub: string; amount: string }[],
  outputs: CoinData[],
): Draft<"coins-refreshed"> => ({ type: "coins-refreshed", data: { refreshGroupId, url, inputs, outputs } });
export const aborted = (withdrawalGroupId: string): Draft<"withdrawal-group-aborted"> => ({
  type: "withdrawal-group-aborted",
  data: { withdrawalGroupId },
});

// ---------------------------------------------------------------- this device's update attempts (local)

export const attempted = (url: string): Draft<"exchange-update-attempted"> => ({ type: "exchange-update-attempted", data: { url } });
export const settled = (
  url: string,
  ok: boolean,
  more: Omit<EventData<"exchange-update-settled">, "url" | "ok"> = {},
): Draft<"exchange-update-settled"> => ({ type: "exchange-update-settled", data: { url, ok, ...more } });

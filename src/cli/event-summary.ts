// One line that says what an event recorded, for `wallet-engine log`.
import { amountSum, currencyOf } from "../codec/amounts.ts";
import type { SharedEvent, WalletEvent } from "../events/envelope.ts";
import { abbreviate, formatAmountHuman } from "./format.ts";

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

function coinsTotal(values: string[]): string {
  return values.length === 0 ? "" : formatAmountHuman(amountSum(currencyOf(values[0]), values));
}

/** What `e` recorded, in one line. Events come from the wallet's own log, so their payloads are valid. */
export function eventSummary(raw: WalletEvent): string {
  const e = raw as SharedEvent;
  switch (e.type) {
    case "exchange-added":
      return `${e.data.url}${e.data.preset ? " (preset)" : ""}`;
    case "exchange-keys-fetched": {
      const k = e.data.keys;
      return `${e.data.url} ${k.currency}, protocol ${k.version}, ${plural(k.denominations.length, "denomination")}, master ${abbreviate(k.masterPub, 16)}`;
    }
    case "exchange-update-failed":
      return `${e.data.url} ${e.data.code}: ${e.data.message}`;
    case "exchange-tos-offered":
      return `${e.data.url} terms ${e.data.etag}${e.data.languages.length > 0 ? ` (${e.data.languages.join(", ")})` : ""}`;
    case "exchange-tos-accepted":
      return `${e.data.url} terms ${e.data.etag}`;
    case "exchange-tos-forgotten":
    case "exchange-suspended":
    case "exchange-unsuspended":
      return e.data.url;
    case "exchange-deleted":
      return `${e.data.url}${e.data.purge ? " (purge)" : ""}`;
    case "coins-withdrawn": {
      const total = coinsTotal(e.data.coins.map((c) => c.value));
      const instructed = e.data.amount === undefined ? "" : ` of ${formatAmountHuman(e.data.amount)}`;
      return `${e.data.url} group ${abbreviate(e.data.withdrawalGroupId, 16)}: ${plural(e.data.coins.length, "coin")}${total ? ` ${total}` : ""}${instructed}`;
    }
    case "coin-spent":
      return `coin ${abbreviate(e.data.coinPub, 16)} ${formatAmountHuman(e.data.amount)} (spend ${abbreviate(e.data.spendId, 16)})`;
    case "coins-refreshed":
      return `${e.data.url} group ${abbreviate(e.data.refreshGroupId, 16)}: ${plural(e.data.inputs.length, "coin")} in, ${plural(e.data.outputs.length, "coin")} out`;
    case "withdrawal-group-aborted":
      return `group ${abbreviate(e.data.withdrawalGroupId, 16)}`;
    default: {
      // A type this summary does not know yet still gets a line: its payload, shortened.
      const unknown: never = e;
      const text = JSON.stringify((unknown as WalletEvent).data) ?? "";
      return text.length > 100 ? `${text.slice(0, 99)}…` : text;
    }
  }
}

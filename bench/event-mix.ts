// A deterministic, realistic history for one device: a few exchanges set up
// (added, /keys fetched, ToS offered and accepted), then withdrawals of 10
// coins each and partial spends of live coins (about 9 spends per withdrawal),
// a ToS re-acceptance now and then, and a rare double spend so that
// listConflicts has something to list. Drafts only: the store stamps them.
import type { KeysFactsData, SharedDraft } from "../src/events/catalogue.ts";
import { formatAmount } from "../src/codec/amounts.ts";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";

export const EXCHANGES = [
  { url: "https://exchange-a.example.com/", currency: "KUDOS" },
  { url: "https://exchange-b.example.com/", currency: "KUDOS" },
  { url: "https://exchange-c.example.org/taler/", currency: "TESTKUDOS" },
  { url: "https://exchange-d.example.net/", currency: "EUR" },
];

const COINS_PER_WITHDRAWAL = 10;
const SPENDS_PER_WITHDRAWAL = 9;
const TOS_EVERY = 500;
const DOUBLE_SPEND_EVERY = 1_000;
const COIN_VALUES_CENTS = [100, 200, 500, 1_000];

/** Small seeded PRNG (mulberry32): the same tag always gives the same history. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const crock = (label: string, bytes: number) => encodeCrock(sha512(label).subarray(0, bytes));
const cents = (currency: string, c: number) => formatAmount({ currency, value: Math.floor(c / 100), fraction: (c % 100) * 1_000_000 });

function keysFacts(currency: string, tag: string): KeysFactsData {
  const fee = `${currency}:0.01`;
  return {
    currency,
    masterPub: crock(`master-${currency}`, 32),
    version: "23:0:6",
    reserveClosingDelayUs: 2_419_200_000_000,
    listIssueDate: 1_700_000_000,
    denominations: COIN_VALUES_CENTS.map((v) => ({
      denomPubHash: crock(`denom-${currency}-${v}`, 64),
      cipher: "RSA",
      value: cents(currency, v),
      feeWithdraw: fee,
      feeDeposit: fee,
      feeRefresh: fee,
      feeRefund: fee,
      stampStart: 1_700_000_000,
      stampExpireWithdraw: 4_000_000_000,
      stampExpireDeposit: 4_100_000_000,
      stampExpireLegal: 4_200_000_000,
    })),
    signkeys: [{ key: crock(`signkey-${currency}-${tag}`, 32), stampStart: 1_700_000_000, stampExpire: 4_000_000_000, stampEnd: 4_200_000_000 }],
  };
}

interface LiveCoin {
  pub: string;
  currency: string;
  valueCents: number;
  leftCents: number;
}

/** `count` drafts authored by one device; `tag` keeps coin, group and spend ids apart across devices. */
export function eventMix(tag: string, count: number): SharedDraft[] {
  const rand = prng([...tag].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261));
  const out: SharedDraft[] = [];
  const push = (d: SharedDraft) => {
    if (out.length < count) out.push(d);
  };
  let tosRound = 0;
  const offerAndAccept = (url: string) => {
    const etag = `tos-v${++tosRound}`;
    push({ type: "exchange-tos-offered", data: { url, etag, termsVersion: etag, languages: ["en", "de", "fr"] } });
    push({ type: "exchange-tos-accepted", data: { url, etag } });
  };
  for (const ex of EXCHANGES) {
    push({ type: "exchange-added", data: { url: ex.url, preset: false } });
    push({ type: "exchange-keys-fetched", data: { url: ex.url, keys: keysFacts(ex.currency, tag) } });
    offerAndAccept(ex.url);
  }

  const live: LiveCoin[] = [];
  const spent: LiveCoin[] = [];
  let coinNo = 0;
  let groupNo = 0;
  let spendNo = 0;
  while (out.length < count) {
    const ex = EXCHANGES[Math.floor(rand() * EXCHANGES.length)];
    const coins = [];
    for (let i = 0; i < COINS_PER_WITHDRAWAL; i++) {
      const valueCents = COIN_VALUES_CENTS[Math.floor(rand() * COIN_VALUES_CENTS.length)];
      const pub = crock(`coin-${tag}-${++coinNo}`, 32);
      coins.push({
        coinPub: pub,
        denomPubHash: crock(`denom-${ex.currency}-${valueCents}`, 64),
        value: cents(ex.currency, valueCents),
        coinPriv: crock(`priv-${tag}-${coinNo}`, 32),
        blindingKey: crock(`blind-${tag}-${coinNo}`, 32),
      });
      live.push({ pub, currency: ex.currency, valueCents, leftCents: valueCents });
    }
    push({ type: "coins-withdrawn", data: { url: ex.url, withdrawalGroupId: `${tag}-wg-${++groupNo}`, coins } });

    for (let i = 0; i < SPENDS_PER_WITHDRAWAL && live.length > 0; i++) {
      spendNo++;
      const spendId = `${tag}-spend-${spendNo}`;
      const purchaseId = `${tag}-purchase-${Math.ceil(spendNo / 3)}`;
      if (spendNo % DOUBLE_SPEND_EVERY === 0 && spent.length > 0) {
        // The same coin spent again for its full value, as a restored old backup would: a conflict.
        const c = spent[Math.floor(rand() * spent.length)];
        push({ type: "coin-spent", data: { spendId, coinPub: c.pub, amount: cents(c.currency, c.valueCents), purchaseId } });
        continue;
      }
      const at = Math.floor(rand() * live.length);
      const c = live[at];
      const amount = 1 + Math.floor(rand() * c.leftCents);
      c.leftCents -= amount;
      push({ type: "coin-spent", data: { spendId, coinPub: c.pub, amount: cents(c.currency, amount), purchaseId } });
      if (c.leftCents === 0) {
        live[at] = live[live.length - 1];
        live.pop();
      }
      if (spent.length < 10_000) spent.push(c);
    }
    if (groupNo % Math.ceil(TOS_EVERY / (1 + SPENDS_PER_WITHDRAWAL)) === 0) {
      offerAndAccept(EXCHANGES[Math.floor(rand() * EXCHANGES.length)].url);
    }
  }
  return out;
}

// The 3-device workload of the merge comparison, as neutral operations that
// each system (ours, Yjs, Automerge) records in its own way:
//
//   3 devices × N operations each: the same 20 exchanges added on every device
//   and each updated 10 times (a fresh /keys), withdrawals of 1–4 coins keyed
//   by 52-character ids, and spends with p = 0.4 (of a coin the device holds);
//   then every device merges the other two.
import { cents, DENOM_CENTS, denomPubHash, exchange, keysFacts, rng, seedOf } from "./history.ts";
import type { KeysFactsData, SharedDraft } from "./engine.ts";

export const PEER_DEVICES = ["devA", "devB", "devC"];
export const PEER_EXCHANGES = 20;
export const UPDATES_PER_EXCHANGE = 10;
export const SPEND_P = 0.4;

export interface PeerCoin {
  coinPub: string;
  denomPubHash: string;
  value: string;
}

export type PeerOp =
  | { kind: "exchange-added"; url: string }
  | { kind: "exchange-updated"; url: string; keys: KeysFactsData }
  | { kind: "withdrawal"; url: string; groupId: string; coins: PeerCoin[] }
  | { kind: "spend"; coinPub: string; spendId: string; amount: string };

/** The `n` operations of device `device` (0, 1, 2); needs n ≥ 220 (the exchange adds and updates). */
export function peerOps(seed: number, device: number, n: number): PeerOp[] {
  const updates = PEER_EXCHANGES * UPDATES_PER_EXCHANGE;
  if (n < PEER_EXCHANGES + updates) throw new Error(`the peer workload needs at least ${PEER_EXCHANGES + updates} operations per device`);
  const id = PEER_DEVICES[device];
  const rand = rng(seedOf(seed, `peer ${id}`));
  const ops: PeerOp[] = [];
  for (let i = 0; i < PEER_EXCHANGES; i++) ops.push({ kind: "exchange-added", url: exchange(i).url });

  // The 200 updates at random places among the remaining operations, in rounds over the exchanges.
  const rest = n - PEER_EXCHANGES;
  const isUpdate = new Uint8Array(rest);
  for (let placed = 0; placed < updates; ) {
    const at = rand.int(rest);
    if (isUpdate[at] === 0) {
      isUpdate[at] = 1;
      placed++;
    }
  }
  const revisions = new Array<number>(PEER_EXCHANGES).fill(0);
  let nextUpdate = 0;
  const live: { pub: string; currency: string; left: number }[] = [];
  let counter = 0;
  for (let k = 0; k < rest; k++) {
    if (isUpdate[k] === 1) {
      const i = nextUpdate++ % PEER_EXCHANGES;
      const ex = exchange(i);
      ops.push({ kind: "exchange-updated", url: ex.url, keys: keysFacts(ex, ++revisions[i]) });
    } else if (live.length > 0 && rand.next() < SPEND_P) {
      const at = rand.int(live.length);
      const c = live[at];
      const amount = c.left === 1 || rand.next() < 0.5 ? c.left : 1 + rand.int(c.left - 1);
      c.left -= amount;
      if (c.left === 0) {
        live[at] = live[live.length - 1];
        live.pop();
      }
      ops.push({ kind: "spend", coinPub: c.pub, spendId: `${id}-s${counter++}`, amount: cents(c.currency, amount) });
    } else {
      const ex = exchange(rand.int(PEER_EXCHANGES));
      const coins: PeerCoin[] = [];
      for (let j = rand.between(1, 4); j > 0; j--) {
        const v = DENOM_CENTS[rand.int(DENOM_CENTS.length)];
        const pub = rand.id52();
        coins.push({ coinPub: pub, denomPubHash: denomPubHash(ex, v, 0), value: cents(ex.currency, v) });
        live.push({ pub, currency: ex.currency, left: v });
      }
      ops.push({ kind: "withdrawal", url: ex.url, groupId: `${id}-wg${counter++}`, coins });
    }
  }
  return ops;
}

/** Our event for an operation. */
export function draftOf(op: PeerOp): SharedDraft {
  switch (op.kind) {
    case "exchange-added":
      return { type: "exchange-added", data: { url: op.url, preset: false } };
    case "exchange-updated":
      return { type: "exchange-keys-fetched", data: { url: op.url, keys: op.keys } };
    case "withdrawal":
      return { type: "coins-withdrawn", data: { url: op.url, withdrawalGroupId: op.groupId, coins: op.coins } };
    case "spend":
      return { type: "coin-spent", data: { spendId: op.spendId, coinPub: op.coinPub, amount: op.amount } };
    default:
      return assertNever(op);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}

// The floor we compare against: plain `lmdb` puts of event-sized msgpack
// values keyed by [device, seq], in an environment opened exactly as
// src/events/store.ts opens it. No validation, hashing or projections.
import { join } from "node:path";
import { open } from "lmdb";
import { encodeCrock } from "../src/codec/crockford.ts";
import { sha512 } from "../src/codec/hash.ts";
import { timeMs } from "./measure.ts";

const DEVICE = "RAWBENCHDEVICE0000";

/** Envelope-shaped objects of about 350 bytes, built before timing starts. */
export function rawValues(count: number): object[] {
  const prev = encodeCrock(sha512("prev"));
  const coinPub = encodeCrock(sha512("coin").subarray(0, 32));
  const out: object[] = [];
  for (let seq = 1; seq <= count; seq++) {
    out.push({
      device: DEVICE,
      seq,
      lamport: seq,
      deps: { [DEVICE]: seq - 1, OTHERDEVICE000000: 17 },
      time: 1_700_000_000_000 + seq,
      prev,
      type: "coin-spent",
      data: { spendId: `spend-${seq}`, coinPub, amount: "KUDOS:1.25", purchaseId: `purchase-${seq}` },
    });
  }
  return out;
}

function openRaw(path: string) {
  const root = open({ path: join(path, "raw.mdb"), overlappingSync: false, maxDbs: 12 });
  return { root, db: root.openDB({ name: "events" }) };
}

/** All puts in one write transaction (one fsync). Returns ms. */
export async function rawBatchedPut(path: string, values: object[]): Promise<number> {
  const { root, db } = openRaw(path);
  const ms = timeMs(() => {
    root.transactionSync(() => {
      for (let i = 0; i < values.length; i++) db.put([DEVICE, i + 1], values[i]);
    });
  });
  await root.close();
  return ms;
}

/** One committed, fsynced transaction per put. Returns ms. */
export async function rawSinglePut(path: string, values: object[]): Promise<number> {
  const { root, db } = openRaw(path);
  const ms = timeMs(() => {
    for (let i = 0; i < values.length; i++) {
      // A block body, not an arrow returning put's promise: a callback that
      // returns a promise would keep the synchronous transaction waiting on itself.
      root.transactionSync(() => {
        db.put([DEVICE, i + 1], values[i]);
      });
    }
  });
  await root.close();
  return ms;
}

/** Mean stored (msgpack) size in bytes of a sample of values under `dbName`. */
export async function meanStoredBytes(mdbFile: string, dbName: string, sample = 2_000): Promise<number> {
  const root = open({ path: mdbFile, readOnly: true, maxDbs: 12 });
  const db = root.openDB({ name: dbName });
  let total = 0;
  let n = 0;
  for (const { key } of db.getRange({ limit: sample })) {
    total += db.getBinary(key)?.length ?? 0;
    n++;
  }
  await root.close();
  return n === 0 ? 0 : total / n;
}

export const rawMdbFile = (path: string) => join(path, "raw.mdb");

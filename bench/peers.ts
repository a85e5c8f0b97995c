// The 3-device merge, replicated on our engine, Yjs and Automerge. Each runs
// in its own child process (see case.ts), so peak RSS is its own. Recording
// each device's own operations is setup and is not timed; the timed phase is
// the full 3-way merge: every device's state encoded once, and every device
// applying the other two. Convergence is checked after the clock stops.
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { canonicalJson, openAppender, openBenchWallet, storeBytes, type BenchWallet, type WalletEvent } from "./engine.ts";
import { assertNever, draftOf, PEER_DEVICES, peerOps, type PeerOp } from "./peer-workload.ts";
import { rawBatchedPut, rawDirBytes } from "./raw.ts";
import { collectGarbage, elapsedMs, maxRssBytes, phaseMemory, timeMs, timeMsAsync, type PhaseMemory } from "./measure.ts";

export interface PeerResult {
  /** Operations per device. */
  n: number;
  setupMs: number;
  mergeMs: number;
  /** Encoded size of one merged replica: Yjs update, Automerge save, our LMDB file. */
  encodedBytes: number;
  /** Peak RSS of the process up to the end of the merge and its convergence check (setup included). */
  maxRssBytes: number;
  /** Resident memory while the merge itself ran (undefined without /proc). */
  phase?: PhaseMemory;
  converged: true;
  /** Ours only: raw lmdb of the same events, and the shared log as gzip'd JSON. */
  rawLmdbBytes?: number;
  gzipJsonBytes?: number;
}

const opsOf = (seed: number, n: number) => PEER_DEVICES.map((_, d) => peerOps(seed, d, n));

function sameOrThrow(what: string, values: string[]) {
  if (values.some((v) => v !== values[0])) throw new Error(`${what}: the three replicas did not converge`);
}

const digest = (s: string) => createHash("sha256").update(s).digest("hex");

// ---------------------------------------------------------------- ours

/** Events per exportEvents/importEvents page of our merge. */
export const MERGE_PAGE = 10_000;

export async function oursMerge(dir: string, seed: number, n: number): Promise<PeerResult> {
  const ops = opsOf(seed, n);
  const paths = PEER_DEVICES.map((d) => join(dir, d));
  const setupMs = await elapsedMs(async () => {
    for (let d = 0; d < PEER_DEVICES.length; d++) {
      const a = await openAppender(paths[d], PEER_DEVICES[d]);
      for (let i = 0; i < ops[d].length; i += 1_000) a.appendTransaction(ops[d].slice(i, i + 1_000).map(draftOf));
      await a.close();
    }
  });
  ops.length = 0;
  const wallets: BenchWallet[] = [];
  for (let d = 0; d < PEER_DEVICES.length; d++) wallets.push(await openBenchWallet(paths[d], PEER_DEVICES[d]));
  try {
    collectGarbage();
    const mergeMs = await timeMsAsync(async () => {
      // Each device pulls what it lacks from the other two, a page at a time (as a sync of a long history would):
      // a page is causally closed, and the next one starts at the importer's clock.
      for (const to of wallets) {
        for (const from of wallets) {
          if (from === to) continue;
          for (let page; (page = await from.exportEvents(await to.vectorClock(), MERGE_PAGE)).length > 0; ) await to.importEvents(page);
        }
      }
    });
    const phase = phaseMemory();
    const balances: string[] = [];
    const states: string[] = [];
    const logs: string[] = [];
    for (const w of wallets) {
      balances.push(JSON.stringify(await w.getBalances()));
      states.push(digest(await w.sharedState()));
      const h = createHash("sha256");
      let count = 0;
      const since: Record<string, number> = {};
      for (let page; (page = await w.exportEvents(since, MERGE_PAGE)).length > 0; ) {
        for (const e of page) {
          h.update(canonicalJson(e));
          since[e.device] = e.seq;
          count++;
        }
      }
      logs.push(`${count} ${h.digest("hex")}`);
    }
    sameOrThrow("balances", balances);
    sameOrThrow("projections", states);
    sameOrThrow("event sets", logs);
    const rss = maxRssBytes();

    const all = await wallets[0].exportEvents();
    const rawDir = join(dir, "raw");
    mkdirSync(rawDir);
    await rawBatchedPut(rawDir, [all]);
    const gzipJsonBytes = gzipSync(Buffer.from(JSON.stringify(all))).length;
    await wallets[0].close();
    return {
      n,
      setupMs,
      mergeMs,
      encodedBytes: storeBytes(paths[0]),
      maxRssBytes: rss,
      phase,
      converged: true,
      rawLmdbBytes: rawDirBytes(rawDir),
      gzipJsonBytes,
    };
  } finally {
    for (const w of wallets) await w.close();
    for (const p of paths) rmSync(p, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- Yjs: one Y.Map per record

function yjsRecord(doc: Y.Doc, op: PeerOp) {
  const records = doc.getMap<Y.Map<unknown>>("records");
  switch (op.kind) {
    case "exchange-added": {
      const key = `exchange:${op.url}`;
      if (!records.has(key)) {
        const m = new Y.Map<unknown>();
        m.set("url", op.url);
        records.set(key, m);
      }
      return;
    }
    case "exchange-updated":
      records.get(`exchange:${op.url}`)!.set("keys", op.keys);
      return;
    case "withdrawal":
      for (const c of op.coins) {
        const m = new Y.Map<unknown>();
        m.set("exchange", op.url);
        m.set("withdrawalGroupId", op.groupId);
        m.set("denomPubHash", c.denomPubHash);
        m.set("value", c.value);
        records.set(`coin:${c.coinPub}`, m);
      }
      return;
    case "spend":
      records.get(`coin:${op.coinPub}`)!.set(`spend:${op.spendId}`, op.amount);
      return;
    default:
      assertNever(op);
  }
}

export async function yjsMerge(seed: number, n: number): Promise<PeerResult> {
  const ops = opsOf(seed, n);
  const docs = PEER_DEVICES.map((_, d) => {
    const doc = new Y.Doc();
    doc.clientID = d + 1;
    return doc;
  });
  const setupMs = await elapsedMs(() => {
    docs.forEach((doc, d) => {
      for (const op of ops[d]) doc.transact(() => yjsRecord(doc, op));
    });
  });
  ops.length = 0;
  collectGarbage();
  const mergeMs = timeMs(() => {
    const updates = docs.map((doc) => Y.encodeStateAsUpdate(doc));
    docs.forEach((doc, to) => {
      updates.forEach((u, from) => {
        if (from !== to) Y.applyUpdate(doc, u);
      });
    });
  });
  const phase = phaseMemory();
  sameOrThrow("Yjs documents", docs.map((doc) => digest(canonicalJson(doc.getMap("records").toJSON()))));
  const rss = maxRssBytes();
  return { n, setupMs, mergeMs, encodedBytes: Y.encodeStateAsUpdate(docs[0]).length, maxRssBytes: rss, phase, converged: true };
}

// ---------------------------------------------------------------- Automerge: nested maps

type AmDoc = { exchanges: Record<string, unknown>; coins: Record<string, unknown> };
type AmHandle = ReturnType<typeof Automerge.getBackend>;

/**
 * Records `ops` as one Automerge change each on the document's core handle
 * (putObject/put/commit). Automerge 3.5's JS view re-materializes the touched
 * path on every change and every merged patch, copying a map of n coins each
 * time: measured here, 2,000 ops per device took 16 s to record and 63 s to
 * merge through `change`/`merge`, so neither would finish at 10k. The handle
 * holds the same changes; the JS view is simply not rebuilt.
 */
function automergeDevice(base: Uint8Array, device: number, ops: PeerOp[]): AmHandle {
  const actor = (device + 1).toString(16).padStart(32, "0");
  // A fork of the common base under this device's actor (clone: a loaded doc records 3× slower).
  const doc = Automerge.clone(Automerge.load<AmDoc>(base), { actor });
  const h = Automerge.getBackend(doc);
  const exchanges = Automerge.getObjectId(doc.exchanges)!;
  const coins = Automerge.getObjectId(doc.coins)!;
  const exchangeObj = new Map<string, string>();
  /** The spends map of each coin. */
  const spendsObj = new Map<string, string>();
  for (const op of ops) {
    switch (op.kind) {
      case "exchange-added":
        exchangeObj.set(op.url, h.putObject(exchanges, op.url, { url: op.url }));
        break;
      case "exchange-updated":
        // An opaque value, as Yjs holds it: /keys as nested Automerge maps and lists cost
        // ~25 ms per update here and made the merge 25× slower than everything else in it.
        h.put(exchangeObj.get(op.url)!, "keys", JSON.stringify(op.keys));
        break;
      case "withdrawal":
        for (const c of op.coins) {
          const coin = h.putObject(coins, c.coinPub, { exchange: op.url, withdrawalGroupId: op.groupId, denomPubHash: c.denomPubHash, value: c.value });
          spendsObj.set(c.coinPub, h.putObject(coin, "spends", {}));
        }
        break;
      case "spend":
        h.put(spendsObj.get(op.coinPub)!, op.spendId, op.amount);
        break;
      default:
        assertNever(op);
    }
    h.commit(null, 0);
  }
  return h;
}

export async function automergeMerge(seed: number, n: number): Promise<PeerResult> {
  const ops = opsOf(seed, n);
  const base = Automerge.save(Automerge.from<AmDoc>({ exchanges: {}, coins: {} }, { actor: "ff".repeat(16) }));
  let handles: AmHandle[] = [];
  const setupMs = await elapsedMs(() => {
    handles = ops.map((deviceOps, d) => automergeDevice(base, d, deviceOps));
  });
  ops.length = 0;
  collectGarbage();
  // save, then load + merge of the other two documents' changes (loadIncremental).
  const mergeMs = timeMs(() => {
    const saved = handles.map((h) => h.save());
    handles.forEach((h, to) => {
      saved.forEach((bytes, from) => {
        if (from !== to) h.loadIncremental(bytes);
      });
    });
  });
  const phase = phaseMemory();
  sameOrThrow("Automerge heads", handles.map((h) => JSON.stringify([...h.getHeads()].sort())));
  // Scalar strings come back as ImmutableString objects; JSON gives their text.
  sameOrThrow("Automerge documents", handles.map((h) => digest(canonicalJson(JSON.parse(JSON.stringify(h.materialize("/")))))));
  const rss = maxRssBytes();
  return { n, setupMs, mergeMs, encodedBytes: handles[0].save().length, maxRssBytes: rss, phase, converged: true };
}

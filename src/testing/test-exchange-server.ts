import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { encodeCrock } from "../codec/crockford.ts";
import { sha512 } from "../codec/hash.ts";

/** Which endpoint a fault applies to; omitted means both. */
export type ExchangeFaultPath = "keys" | "terms";

/**
 * Faults the test exchange can inject. `missing-field` / `set-field` take a
 * JSON path into /keys ("denominations[0].denoms[1].stamp_expire_withdraw");
 * on /terms the same `field` names a response header. `malformed-json` only
 * affects /keys (the terms are not JSON).
 */
export type ExchangeFault =
  | { kind: "http-500"; path?: ExchangeFaultPath }
  | { kind: "hang"; path?: ExchangeFaultPath }
  | { kind: "reset"; path?: ExchangeFaultPath }
  | { kind: "malformed-json"; path?: ExchangeFaultPath }
  | { kind: "missing-field"; field: string; path?: ExchangeFaultPath }
  | { kind: "set-field"; field: string; value: unknown; path?: ExchangeFaultPath };

/** Terms of service: one document per language and mime type. */
export interface TestExchangeTos {
  version: string;
  languages: { [lang: string]: { [mime: string]: string } };
}

export interface TestExchangeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface TestExchange {
  /** "http://127.0.0.1:PORT/", always with the trailing slash. */
  baseUrl: string;
  currency: string;
  /** Every request received, in order, faulted ones included. */
  requests: TestExchangeRequest[];
  close(): Promise<void>;
  /** Replaces the active faults; a list combines them (the first transport fault wins). */
  setFault(fault: ExchangeFault | ExchangeFault[] | undefined): void;
  rotateMasterKey(): void;
  setVersion(v: string): void;
  setDenominationsExpired(expired: boolean): void;
  setTos(tos: TestExchangeTos): void;
  /** Back to the state of a fresh server: no fault, default keys and ToS, empty request log. */
  reset(): void;
  /** The master public key /keys currently advertises. */
  masterPub(): string;
  /** The /keys body the exchange would serve now, before faults. */
  keysJson(): Record<string, unknown>;
}

const DAY_S = 86_400;

const DEFAULT_TOS: TestExchangeTos = {
  version: "v1",
  languages: {
    en: {
      "text/plain": "Terms of Service (v1)\n\nThis is a test exchange. Coins have no value.\n",
      "text/markdown": "# Terms of Service (v1)\n\nThis is a *test* exchange. Coins have no value.\n",
    },
    de: {
      "text/plain": "Allgemeine Geschäftsbedingungen (v1)\n\nDies ist eine Test-Exchange. Münzen sind wertlos.\n",
    },
  },
};

function bytesFor(label: string, n: number): Uint8Array {
  return sha512(label).slice(0, n);
}

function cloneTos(tos: TestExchangeTos): TestExchangeTos {
  const languages: TestExchangeTos["languages"] = {};
  for (const [lang, docs] of Object.entries(tos.languages)) languages[lang] = { ...docs };
  return { version: tos.version, languages };
}

interface ExchangeState {
  version: string;
  masterKeyGeneration: number;
  denomsExpired: boolean;
  // Stamps are fixed at this instant (reset on each state switch) so that the
  // body, and hence its ETag, is stable between switches and 304s are possible.
  anchorMs: number;
  tos: TestExchangeTos;
  faults: ExchangeFault[];
}

function buildKeys(currency: string, baseUrl: string, s: ExchangeState): Record<string, unknown> {
  const nowS = Math.floor(s.anchorMs / 1000);
  const ts = (t: number) => ({ t_s: t });
  const denomStamps = s.denomsExpired
    ? { start: nowS - 60 * DAY_S, withdraw: nowS - DAY_S, deposit: nowS + 60 * DAY_S, legal: nowS + 365 * DAY_S }
    : { start: nowS - DAY_S, withdraw: nowS + 30 * DAY_S, deposit: nowS + 90 * DAY_S, legal: nowS + 365 * DAY_S };
  const fee = `${currency}:0.01`;
  const denominations = ["1", "5"].map((v) => ({
    cipher: "RSA",
    value: `${currency}:${v}`,
    fee_withdraw: fee,
    fee_deposit: fee,
    fee_refresh: fee,
    fee_refund: fee,
    age_mask: 0,
    denoms: [0, 1].map((i) => ({
      master_sig: encodeCrock(bytesFor(`test-exchange denom sig ${currency} ${v} ${i}`, 64)),
      stamp_start: ts(denomStamps.start),
      stamp_expire_withdraw: ts(denomStamps.withdraw),
      stamp_expire_deposit: ts(denomStamps.deposit),
      stamp_expire_legal: ts(denomStamps.legal),
      rsa_pub: encodeCrock(bytesFor(`test-exchange denom pub ${currency} ${v} ${i}`, 64)),
    })),
  }));
  const signkeys = [0, 1].map((i) => ({
    key: encodeCrock(bytesFor(`test-exchange signkey ${currency} ${i}`, 32)),
    master_sig: encodeCrock(bytesFor(`test-exchange signkey sig ${currency} ${i}`, 64)),
    stamp_start: ts(nowS - DAY_S + i * 45 * DAY_S),
    stamp_expire: ts(nowS + 90 * DAY_S + i * 45 * DAY_S),
    stamp_end: ts(nowS + 365 * DAY_S),
  }));
  return {
    version: s.version,
    base_url: baseUrl,
    currency,
    master_public_key: masterPubFor(currency, s.masterKeyGeneration),
    reserve_closing_delay: { d_us: 28 * DAY_S * 1_000_000 },
    list_issue_date: ts(nowS),
    signkeys,
    denominations,
    // Present in real /keys, irrelevant to the engine: proves they are ignored.
    accounts: [],
    wire_fees: {},
    global_fees: [],
    auditors: [],
  };
}

function masterPubFor(currency: string, generation: number): string {
  return encodeCrock(bytesFor(`test-exchange master key ${currency} ${generation}`, 32));
}

function pathSegments(path: string): string[] {
  return path.match(/[^.[\]]+/g) ?? [];
}

/** Navigates to the parent of `path`; undefined when some step is absent. */
function parentOf(root: unknown, segs: string[]): Record<string, unknown> | unknown[] | undefined {
  let cur: unknown = root;
  for (const seg of segs.slice(0, -1)) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>) : undefined;
}

function deletePath(root: unknown, path: string): void {
  const segs = pathSegments(path);
  const parent = parentOf(root, segs);
  if (parent === undefined || segs.length === 0) return;
  const last = segs[segs.length - 1];
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete parent[last];
}

function setPath(root: unknown, path: string, value: unknown): void {
  const segs = pathSegments(path);
  const parent = parentOf(root, segs);
  if (parent === undefined || segs.length === 0) return;
  (parent as Record<string, unknown>)[segs[segs.length - 1]] = value;
}

function parseWeighted(header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(",") : header;
  if (raw === undefined || raw.trim() === "") return [];
  return raw
    .split(",")
    .map((part, idx) => {
      const [value, ...params] = part.split(";").map((p) => p.trim());
      let q = 1;
      for (const p of params) {
        const m = /^q=([0-9.]+)$/i.exec(p);
        if (m) q = Number(m[1]);
      }
      return { value: value.toLowerCase(), q: Number.isFinite(q) ? q : 0, idx };
    })
    .filter((e) => e.value !== "" && e.q > 0)
    .sort((a, b) => b.q - a.q || a.idx - b.idx)
    .map((e) => e.value);
}

function chooseLanguage(available: string[], wanted: string[]): string {
  const fallback = available.includes("en") ? "en" : available[0];
  for (const w of wanted) {
    if (w === "*") return fallback;
    const exact = available.find((a) => a.toLowerCase() === w);
    if (exact !== undefined) return exact;
    const primary = w.split("-")[0];
    const loose = available.find((a) => a.toLowerCase() === primary);
    if (loose !== undefined) return loose;
  }
  return fallback;
}

function chooseMime(available: string[], wanted: string[]): string {
  // Instead of 406 we fall back to plain text: a wallet can always show that.
  const fallback = available.find((m) => m.toLowerCase() === "text/plain") ?? available[0];
  for (const w of wanted) {
    if (w === "*/*") return fallback;
    if (w.endsWith("/*")) {
      const prefix = w.slice(0, -1);
      const hit = available.find((m) => m.toLowerCase().startsWith(prefix));
      if (hit !== undefined) return hit;
      continue;
    }
    const hit = available.find((m) => m.toLowerCase() === w);
    if (hit !== undefined) return hit;
  }
  return fallback;
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const bare = (t: string) => {
    let s = t.trim();
    if (s.startsWith("W/")) s = s.slice(2);
    if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
    return s;
  };
  const target = bare(etag);
  return ifNoneMatch.split(",").some((t) => t.trim() === "*" || bare(t) === target);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(text);
}

/**
 * Starts a small GNU-Taler-style exchange (/keys, /terms) on loopback, with
 * fault injection and state switches for tests. Use port 0 for a free port.
 */
export async function startTestExchange(
  opts: { port?: number; host?: string; currency?: string; now?: () => number } = {},
): Promise<TestExchange> {
  const host = opts.host ?? "127.0.0.1";
  const currency = opts.currency ?? "KUDOS";
  const now = opts.now ?? Date.now;

  const fresh = (): ExchangeState => ({
    version: "23:0:6",
    masterKeyGeneration: 0,
    denomsExpired: false,
    anchorMs: now(),
    tos: cloneTos(DEFAULT_TOS),
    faults: [],
  });
  let state = fresh();
  const requests: TestExchangeRequest[] = [];
  const sockets = new Set<Socket>();
  let baseUrl = "";

  const faultsFor = (endpoint: ExchangeFaultPath): ExchangeFault[] =>
    state.faults.filter((f) => f.path === undefined || f.path === endpoint);

  // Returns true when a fault has fully dealt with the request.
  const applyTransportFault = (faults: ExchangeFault[], req: IncomingMessage, res: ServerResponse): boolean => {
    for (const fault of faults) {
      switch (fault.kind) {
        case "http-500":
          sendJson(res, 500, { code: 1000, hint: "injected fault: internal server error" });
          return true;
        case "hang":
          // Never answered; close() destroys the socket.
          return true;
        case "reset":
          req.socket.destroy();
          return true;
        default:
          break;
      }
    }
    return false;
  };

  const serveKeys = (req: IncomingMessage, res: ServerResponse): void => {
    const faults = faultsFor("keys");
    if (applyTransportFault(faults, req, res)) return;
    if (faults.some((f) => f.kind === "malformed-json")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"version": "23:0:6", "currency": "' + currency + '", "denominations": [');
      return;
    }
    const keys = buildKeys(currency, baseUrl, state);
    for (const f of faults) {
      if (f.kind === "missing-field") deletePath(keys, f.field);
      if (f.kind === "set-field") setPath(keys, f.field, f.value);
    }
    const body = JSON.stringify(keys);
    const etag = `"${encodeCrock(sha512(body)).slice(0, 26)}"`;
    if (etagMatches(req.headers["if-none-match"], etag)) {
      res.writeHead(304, { ETag: etag });
      res.end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json", ETag: etag });
    res.end(body);
  };

  const serveTerms = (req: IncomingMessage, res: ServerResponse): void => {
    const faults = faultsFor("terms");
    if (applyTransportFault(faults, req, res)) return;
    const tos = state.tos;
    const languages = Object.keys(tos.languages).sort();
    if (languages.length === 0) {
      sendJson(res, 404, { code: 10, hint: "no terms of service configured" });
      return;
    }
    const lang = chooseLanguage(languages, parseWeighted(req.headers["accept-language"]));
    const docs = tos.languages[lang];
    const mime = chooseMime(Object.keys(docs), parseWeighted(req.headers["accept"]));
    const etag = `"${tos.version}"`;
    const headers: Record<string, string> = {
      ETag: etag,
      "Taler-Terms-Version": tos.version,
      "Avail-Languages": languages.join(", "),
      "Content-Language": lang,
      Vary: "Accept, Accept-Language",
    };
    if (mime !== undefined) headers["Content-Type"] = mime.startsWith("text/") ? `${mime}; charset=utf-8` : mime;
    for (const f of faults) {
      if (f.kind !== "missing-field" && f.kind !== "set-field") continue;
      const name = Object.keys(headers).find((h) => h.toLowerCase() === f.field.toLowerCase());
      if (name !== undefined) delete headers[name];
      if (f.kind === "set-field") headers[name ?? f.field] = String(f.value);
    }
    if (etagMatches(req.headers["if-none-match"], etag)) {
      delete headers["Content-Type"];
      delete headers["Content-Language"];
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, headers);
    res.end(mime === undefined ? "" : docs[mime]);
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    requests.push({ method: req.method ?? "GET", path, headers: { ...req.headers } });
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { code: 11, hint: `method ${req.method} not allowed` }, { Allow: "GET, HEAD" });
      return;
    }
    if (path === "/keys") serveKeys(req, res);
    else if (path === "/terms") serveTerms(req, res);
    else sendJson(res, 404, { code: 10, hint: `no endpoint ${path}` });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port ?? 0;
  baseUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // server.close only stops accepting; hung and keep-alive sockets would hold it open.
      for (const s of sockets) s.destroy();
    });
    return closing;
  };

  const touch = (): void => {
    state.anchorMs = now();
  };

  return {
    baseUrl,
    currency,
    requests,
    close,
    setFault(fault) {
      state.faults = fault === undefined ? [] : Array.isArray(fault) ? [...fault] : [fault];
    },
    rotateMasterKey() {
      state.masterKeyGeneration += 1;
      touch();
    },
    setVersion(v) {
      state.version = v;
      touch();
    },
    setDenominationsExpired(expired) {
      state.denomsExpired = expired;
      touch();
    },
    setTos(tos) {
      state.tos = cloneTos(tos);
    },
    reset() {
      state = fresh();
      requests.length = 0;
    },
    masterPub() {
      return masterPubFor(currency, state.masterKeyGeneration);
    },
    keysJson() {
      return buildKeys(currency, baseUrl, state);
    },
  };
}

// A loopback HTTP proxy in front of a real sync server, for fault tests: it
// forwards each request and lets the test break the exchange on the way
// (answer 500, stall, cut the body, swap headers or bodies, kill the
// connection after the server committed, run something first).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface Forwarded {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * What to do with one request. `forward` sends it (or a changed copy) to the
 * server and returns its answer; the fault returns what the client gets, or
 * "cut" (headers and half the body, then the connection dies) or "drop" (the
 * connection dies with no answer).
 */
export type Fault = (req: ProxiedRequest, forward: (r?: Partial<ProxiedRequest>) => Promise<Forwarded>) => Promise<Forwarded | { cut: Forwarded } | "drop">;

export interface FaultProxy {
  baseUrl: string;
  /** The fault applied to each request; undefined forwards untouched. */
  fault: Fault | undefined;
  /** Requests seen, as "METHOD path". */
  seen: string[];
  close(): Promise<void>;
}

const HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive"]);

function plainHeaders(h: IncomingMessage["headers"] | Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = h instanceof Headers ? [...h.entries()] : Object.entries(h);
  for (const [k, v] of entries) if (v !== undefined && !HOP.has(k.toLowerCase())) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** `target()` is read per request, so a test may restart the server behind the proxy. */
export async function startFaultProxy(target: () => string): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { baseUrl: "", fault: undefined, seen: [], close: async () => {} };

  const forwardTo = async (r: ProxiedRequest): Promise<Forwarded> => {
    const resp = await fetch(new URL(r.path.replace(/^\//, ""), target()), {
      method: r.method,
      headers: r.headers,
      body: r.method === "GET" || r.method === "HEAD" ? undefined : new Uint8Array(r.body),
    });
    return { status: resp.status, headers: plainHeaders(resp.headers), body: Buffer.from(await resp.arrayBuffer()) };
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const r: ProxiedRequest = { method: req.method ?? "GET", path: req.url ?? "/", headers: plainHeaders(req.headers), body: await readAll(req) };
      proxy.seen.push(`${r.method} ${r.path}`);
      const forward = (change: Partial<ProxiedRequest> = {}) => forwardTo({ ...r, ...change });
      const out = proxy.fault ? await proxy.fault(r, forward) : await forward();
      if (out === "drop") {
        req.socket.destroy();
        return;
      }
      const answer = "cut" in out ? out.cut : out;
      res.writeHead(answer.status, { ...answer.headers, "content-length": String(answer.body.length) });
      if ("cut" in out) {
        res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)), () => req.socket.destroy());
        return;
      }
      res.end(answer.body);
    } catch {
      // The server is gone: the client sees what it would see without the proxy, a dead connection.
      req.socket.destroy();
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("proxy: no address");
  proxy.baseUrl = `http://127.0.0.1:${addr.port}/`;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

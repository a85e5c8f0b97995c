// One entry of the operations table: how to validate a request, and what to
// do with it. The typed Wallet methods and handleRequest both go through it,
// so there is one validation path.
import type { EngineContext } from "./context.ts";
import type { Parser } from "./request.ts";

export interface Operation<Req, Res> {
  /** Validates the raw payload into the request the handler takes; throws a WalletError. */
  readonly request: Parser<Req>;
  /** validate → read state → decide → append → result. */
  readonly handler: (ctx: EngineContext, req: Req) => Res | Promise<Res>;
  /** The result as plain JSON for handleRequest, when it is not already (bytes become base64); typed callers get it unchanged. */
  readonly toWire?: (res: Res) => unknown;
}

export function operation<Req, Res>(
  request: Parser<Req>,
  handler: (ctx: EngineContext, req: Req) => Res | Promise<Res>,
  toWire?: (res: Res) => unknown,
): Operation<Req, Res> {
  return toWire ? { request, handler, toWire } : { request, handler };
}

/** A table of operations by name (src/ops/index.ts holds the engine's). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OperationTable = Record<string, Operation<any, any>>;
export type ResultOf<T extends OperationTable, K extends keyof T> = T[K] extends Operation<never, infer Res> ? Res : never;

// The operations table: every request the engine answers, by its wallet-core
// name. The typed Wallet methods and handleRequest both dispatch through it.
import { coinOperations } from "../ops/coins.ts";
import { exchangeUpdateOperations } from "../ops/exchange-updates.ts";
import { exchangeOperations } from "../ops/exchanges.ts";
import { logOperations } from "../ops/log.ts";
import type { Operation } from "./operation.ts";

export const operations = {
  ...exchangeOperations,
  ...exchangeUpdateOperations,
  ...coinOperations,
  ...logOperations,
};

export type Operations = typeof operations;
export type OperationName = keyof Operations;
export type RequestOf<K extends OperationName> = Operations[K] extends Operation<infer Req, unknown> ? Req : never;
export type ResultOf<K extends OperationName> = Operations[K] extends Operation<never, infer Res> ? Res : never;

export function isOperationName(name: unknown): name is OperationName {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(operations, name);
}

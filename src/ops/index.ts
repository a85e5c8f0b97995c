// The operations table: every request the engine answers, by its wallet-core
// name. The typed Wallet methods and handleRequest both dispatch through it.
import { backupOperations } from "./backup.ts";
import { coinOperations } from "./coins.ts";
import { exchangeUpdateOperations } from "./exchange-updates.ts";
import { exchangeOperations } from "./exchanges.ts";
import { logOperations } from "./log.ts";
import { syncOperations } from "./sync.ts";

export const operations = {
  ...exchangeOperations,
  ...exchangeUpdateOperations,
  ...coinOperations,
  ...logOperations,
  ...backupOperations,
  ...syncOperations,
};

export type Operations = typeof operations;
export type OperationName = keyof Operations;

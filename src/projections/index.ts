// Every projection the engine folds, in the order it folds them. Whatever opens
// a wallet's store (the engine, tools, tests) folds exactly these, or its
// records would disagree with a rebuild.
import { backupProvidersProjection } from "./backup-providers.ts";
import { coinsProjection } from "./coins.ts";
import { devicesProjection } from "./devices.ts";
import { exchangeUpdatesProjection } from "./exchange-updates.ts";
import { exchangesProjection } from "./exchanges.ts";

export const PROJECTIONS = [exchangesProjection, coinsProjection, exchangeUpdatesProjection, devicesProjection, backupProvidersProjection];

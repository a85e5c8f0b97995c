// The testing entry point (`taler-wallet-engine/testing`): fixtures for an
// embedding wallet's own test suites, kept out of the main bundle. Everything
// but the test exchange needs fast-check (an optional peer dependency).
export { startTestExchange, type ExchangeFault, type ExchangeFaultPath, type TestExchange, type TestExchangeTos } from "./test-exchange-server.ts";

// Multi-device histories and the simulator that plays them on real wallets.
export {
  deviceName,
  EXCHANGES,
  formatHistory,
  formatStep,
  historyArb,
  isOffline,
  isSync,
  sampleHistory,
  SHARED_SPEND_IDS,
  stepArb,
  TOS_ETAGS,
  withToString,
  type History,
  type HistoryShape,
  type OfflineStep,
  type OpArgs,
  type OpName,
  type OpStep,
  type Step,
  type SyncStep,
} from "./histories.ts";
export {
  allPairs,
  coinStates,
  describeError,
  dotOf,
  EXPECTED_REFUSALS,
  isCausallyOrdered,
  linearize,
  observe,
  sharedRecords,
  Simulation,
  syncWallets,
  type CoinFact,
  type GroupFact,
  type Observation,
  type OnStep,
  type Outcome,
  type SimulationOptions,
} from "./simulator.ts";

// Valid requests against a described world.
export {
  applyRequest,
  REQUEST_OPERATIONS,
  requestArb,
  requestsArb,
  type RequestOperation,
  type RequestWorld,
  type WalletRequest,
} from "./requests.ts";

// The merge laws as functions that throw an AssertionError when a law fails.
export {
  checkAddWins,
  checkBalances,
  checkConflictsListed,
  checkConvergence,
  checkImportAtomic,
  checkIncrementalEqualsRebuild,
  checkLinearizations,
  checkMergeAssociative,
  checkMergeCommutative,
  checkMergeIdempotent,
  checkMergeLaws,
  checkNoLoss,
  checkNoResurrection,
  checkNotGrown,
  checkSuspensionLww,
  coinPubsOf,
  coinView,
  CORRUPTIONS,
  corruptionArb,
  deliveryArb,
  resurrectionPlanArb,
  withSimulation,
  type Corruption,
  type CorruptionKind,
  type Delivery,
  type MergeLawsOptions,
  type ResurrectionPlan,
} from "./laws.ts";

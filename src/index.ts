// The public API of the wallet engine (see CONTRACT.md).
export { openWallet } from "./wallet.ts";
export type {
  Balance,
  CoinInfo,
  Conflict,
  ExchangeTos,
  OpenWalletOptions,
  PendingUpdatesReport,
  Wallet,
} from "./wallet.ts";
export { WalletError, isWalletError } from "./errors.ts";
export type { WalletEvent } from "./events/envelope.ts";
export { catalogue, type EventType } from "./events/catalogue.ts";
export type {
  ExchangeEntryStatus,
  ExchangeListItem,
  ExchangeTosStatus,
  ExchangeUpdateStatus,
} from "./projections/exchanges.ts";
export type { RecordRefreshRequest, RecordSpendRequest, RecordWithdrawalRequest } from "./projections/coins.ts";
export type { ImportResult } from "./merge/log-merge.ts";
export type { VectorClock } from "./merge/vector-clock.ts";

// Encodings and crypto, byte-exact with GNU Taler.
export { encodeCrock, decodeCrock } from "./transport/crockford.ts";
export { kdf } from "./transport/kdf.ts";
export { canonicalJson } from "./transport/canonical-json.ts";
export { sha512 } from "./transport/hash.ts";
export { eddsaPublicFromSeed, eddsaSign, eddsaVerify } from "./transport/keys.ts";
export {
  amountAdd,
  amountCmp,
  amountSub,
  normalizeAmount,
  parseAmount,
  formatAmount,
  type Amount,
  type AmountString,
} from "./transport/amounts.ts";
export { canonicalizeBaseUrl } from "./transport/url.ts";

// Exchange transport, and a test exchange for embedding wallets' own tests.
export {
  ENGINE_EXCHANGE_PROTOCOL_VERSION,
  isProtocolCompatible,
  type HttpClient,
  type KeysFacts,
} from "./transport/exchange-client.ts";
export { startTestExchange, type ExchangeFault, type TestExchange } from "./transport/test-exchange-server.ts";

// The testing entry point (`taler-wallet-engine/testing`): fixtures for an
// embedding wallet's own test suites, kept out of the main bundle.
export { startTestExchange, type ExchangeFault, type ExchangeFaultPath, type TestExchange, type TestExchangeTos } from "./test-exchange-server.ts";

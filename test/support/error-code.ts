import { WalletError } from "../../src/errors.ts";

/** The WalletError code `f` throws, undefined if it returns; any other throw is named so the assertion shows it. */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof WalletError ? e.code : `non-wallet-error:${String(e)}`;
  }
  return undefined;
}

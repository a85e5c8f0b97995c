/**
 * Every refusal of the engine is a WalletError. `code` is a stable kebab-case
 * identifier (the contract); `message` is for people and may change.
 */
export class WalletError extends Error {
  readonly code: string;
  readonly details?: Record<string, unknown>;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "WalletError";
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isWalletError(e: unknown): e is WalletError {
  return e instanceof WalletError;
}

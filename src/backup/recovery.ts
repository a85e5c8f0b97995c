// Backup recovery: the secret a person writes down (the wallet root key and
// where backups are kept), and what loading it onto a wallet does.
//
// A recovery is `{ walletRootPriv, providers: [{url}] }`, as in GNU Taler's
// wallet-core. Loading one onto a wallet that has its own root key takes a
// strategy:
//
//   theirs  adopt the recovered root key: this device's own history stays and
//           is merged with the recovered one; its next backups are encrypted
//           with the recovered key, for the recovered providers.
//   ours    keep this device's key and providers; merge in whatever the
//           recovered key decrypts at the recovered providers.
//
// Either way the logs merge (set union): nothing of this device is lost, and
// nothing the recovered backups spent comes back. Without a strategy, a
// wallet with backup providers refuses (its backups would silently change
// keys); one without providers defaults to theirs, as wallet-core does.
import { encodeCrock } from "../codec/crockford.ts";
import { canonicalizeBaseUrl } from "../codec/url.ts";
import { WalletError } from "../errors.ts";
import { decodeWalletRootPriv } from "./keys.ts";

export type RecoveryStrategy = "theirs" | "ours";

export interface BackupRecovery {
  /** The 32-byte wallet root seed, Crockford (52 characters). */
  walletRootPriv: string;
  providers: { url: string }[];
}

export interface ParsedRecovery {
  seed: Uint8Array;
  providers: string[];
}

/**
 * Checks a recovery object: its key (backup-key-invalid) and its provider URLs (url-invalid; with
 * the engine's `baseUrl`, request-too-large beyond the length every stored URL is bounded to).
 */
export function parseRecovery(v: unknown, path = "recovery", baseUrl: (url: string, path: string) => string = canonicalizeBaseUrl): ParsedRecovery {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new WalletError("request-invalid", `${path} must be { walletRootPriv, providers }`, { path });
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (k !== "walletRootPriv" && k !== "providers") throw new WalletError("request-invalid", `${path}.${k} is not a known field`, { path: `${path}.${k}` });
  }
  const seed = decodeWalletRootPriv(r.walletRootPriv);
  const list = r.providers === undefined ? [] : r.providers;
  if (!Array.isArray(list) || list.length > 64) throw new WalletError("request-invalid", `${path}.providers must be an array of at most 64 { url }`, { path: `${path}.providers` });
  const providers: string[] = [];
  // Every index, holes of a sparse array included (forEach would skip them).
  for (let i = 0; i < list.length; i++) {
    const p: unknown = list[i];
    const url = typeof p === "object" && p !== null ? (p as { url?: unknown }).url : undefined;
    if (typeof url !== "string") throw new WalletError("request-invalid", `${path}.providers[${i}].url must be a base URL`, { path: `${path}.providers[${i}].url` });
    const canonical = baseUrl(url, `${path}.providers[${i}].url`);
    if (!providers.includes(canonical)) providers.push(canonical);
  }
  return { seed, providers };
}

export function recoveryOf(rootSeed: Uint8Array, providers: string[]): BackupRecovery {
  return { walletRootPriv: encodeCrock(rootSeed), providers: providers.map((url) => ({ url })) };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export type RecoveryPlan =
  /** The recovered key is this wallet's: merge, add the providers. */
  | { kind: "same-key" }
  | { kind: "theirs" }
  | { kind: "ours" };

/** Which strategy a recovery load follows; refuses one without a strategy where wallet-core does. */
export function planRecovery(req: { ownSeed: Uint8Array; recoveredSeed: Uint8Array; strategy?: RecoveryStrategy; providerCount: number }): RecoveryPlan {
  if (sameBytes(req.ownSeed, req.recoveredSeed)) return { kind: "same-key" };
  if (req.strategy === undefined && req.providerCount > 0) {
    throw new WalletError(
      "backup-recovery-strategy-required",
      `this wallet backs up to ${req.providerCount} provider(s) under its own root key: say whether to adopt the recovered key (strategy "theirs") or keep this one and merge what the recovered key decrypts ("ours")`,
    );
  }
  return { kind: req.strategy ?? "theirs" };
}

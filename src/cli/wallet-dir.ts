// The wallet directory a command works on: created by commands that record
// something, required by commands that only look (a mistyped --wallet must
// not quietly show an empty new wallet).
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { DATA_FILE, MARKER_FILE } from "../events/store-files.ts";
import { WalletError } from "../errors.ts";
import { openWallet, type Wallet } from "../wallet.ts";
import type { WalletMode } from "./command.ts";

const CREATING = "`exchanges add`, `backup import`, `sync add-provider`, `api` and `serve` create one";

/** Refuses a path without a wallet: wallet-not-found, or store-open-failed when it is not a directory. */
export function requireWalletDirectory(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new WalletError("wallet-not-found", `no wallet at ${dir}: the directory does not exist (${CREATING})`, { path: dir });
    throw new WalletError("store-open-failed", `cannot read ${dir}: ${(e as Error).message}`, { path: dir });
  }
  if (!isDir) throw new WalletError("store-open-failed", `${dir} is not a directory`, { path: dir });
  // A wallet's marker or its data file: either alone is a damaged wallet, which opening reports as such.
  if (!existsSync(join(dir, MARKER_FILE)) && !existsSync(join(dir, DATA_FILE))) {
    throw new WalletError("wallet-not-found", `no wallet in ${dir} (${CREATING})`, { path: dir });
  }
}

/** Opens the wallet of `dir` as the command's mode says. */
export async function openCliWallet(dir: string, mode: Exclude<WalletMode, "none">): Promise<Wallet> {
  if (mode === "existing") requireWalletDirectory(dir);
  return openWallet({ path: dir });
}

/**
 * Where a creating command would make a new wallet: a path with no wallet in it, missing or empty.
 * Undefined when the command opens a wallet that is already there (or makes none).
 */
export function newWalletAt(dir: string, mode: WalletMode): { existed: boolean } | undefined {
  if (mode !== "create") return undefined;
  if (!existsSync(dir)) return { existed: false };
  try {
    return statSync(dir).isDirectory() && readdirSync(dir).length === 0 ? { existed: true } : undefined;
  } catch {
    return undefined;
  }
}

/** True when a wallet holds nothing a user made: no event, no backup provider (its root key alone is no loss). */
export async function isUntouched(wallet: Wallet): Promise<boolean> {
  return Object.keys(await wallet.getVectorClock()).length === 0 && (await wallet.getBackupInfo()).providers.length === 0;
}

/** Takes back a wallet a refused command created: the directory if the command made it, else what it put in it. */
export function removeNewWallet(dir: string, at: { existed: boolean }): void {
  if (!at.existed) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

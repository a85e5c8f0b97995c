// Wallets in throwaway directories: real LMDB, removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openWallet, type OpenWalletOptions, type Wallet } from "../../src/wallet.ts";

export function tempDir(): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), "wallet-test-"));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Opens a wallet in a fresh temp dir; `cleanup` closes it (if still open) and removes the dir. */
export async function tempWallet(
  opts: Partial<OpenWalletOptions> = {},
): Promise<{ wallet: Wallet; path: string; cleanup(): Promise<void> }> {
  const dir = tempDir();
  const wallet = await openWallet({ ...opts, path: dir.path });
  return {
    wallet,
    path: dir.path,
    async cleanup() {
      await wallet.close();
      dir.cleanup();
    },
  };
}

/**
 * Wallets of one test in throwaway dirs: `open` one per device, `cleanup` (in afterEach)
 * closes and removes every one opened since.
 */
export function walletScope(defaults: Partial<OpenWalletOptions> = {}): {
  open(deviceId?: string, opts?: Partial<OpenWalletOptions>): Promise<Wallet>;
  cleanup(): Promise<void>;
} {
  const opened: { wallet: Wallet; dir: { cleanup(): void } }[] = [];
  return {
    async open(deviceId, opts = {}) {
      const dir = tempDir();
      const wallet = await openWallet({ ...defaults, ...opts, deviceId, path: dir.path });
      opened.push({ wallet, dir });
      return wallet;
    },
    async cleanup() {
      for (const { wallet, dir } of opened.splice(0)) {
        await wallet.close();
        dir.cleanup();
      }
    },
  };
}

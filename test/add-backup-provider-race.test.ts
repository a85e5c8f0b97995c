// addBackupProvider decided "new or existing?" before it awaited the provider's
// /config, and appended `backup-provider-added { active: req.activate ?? false }`
// after it without looking again: two adds of one provider in flight together
// (a host's "activate" and its "add" racing) ended inactive, although run one
// after the other, in either order, the provider ends active ("adding again
// changes only activate"). It now decides again inside the write. Found by review.
import { afterEach, describe, expect, it } from "vitest";
import type { HttpClient } from "../src/transport/exchange-client.ts";
import { walletScope } from "./support/temp-wallet.ts";

const PROVIDER = "https://sync.example/";
const CONFIG = { name: "sync", version: "2:0:0", storage_limit_in_megabytes: 16, annual_fee: "KUDOS:0", liability_limit: "KUDOS:0" };

const scope = walletScope({ now: () => Date.UTC(2025, 0, 15) });
afterEach(() => scope.cleanup());

/** An HTTP client whose /config answers wait until the test releases them, in the order they were asked. */
function gatedHttp(): { http: HttpClient; gates: (() => void)[] } {
  const gates: (() => void)[] = [];
  const http: HttpClient = async () => {
    await new Promise<void>((release) => gates.push(release));
    return new Response(JSON.stringify(CONFIG), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { http, gates };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe("addBackupProvider in flight twice", () => {
  it("an add that asks nothing of activate does not deactivate what a concurrent add activated", async () => {
    const { http, gates } = gatedHttp();
    const w = await scope.open("dev", { http });
    const activating = w.addBackupProvider({ backupProviderBaseUrl: PROVIDER, activate: true });
    await until(() => gates.length === 1);
    const plain = w.addBackupProvider({ backupProviderBaseUrl: PROVIDER });
    await until(() => gates.length === 2);
    gates[0]();
    await activating;
    gates[1]();
    await plain;
    const { providers } = await w.getBackupInfo();
    expect(providers.map((p) => [p.syncProviderBaseUrl, p.active])).toEqual([[PROVIDER, true]]);
  });

  it("serially, the same two adds leave the provider active (the reference)", async () => {
    const w = await scope.open("dev", { http: async () => new Response(JSON.stringify(CONFIG), { status: 200 }) });
    await w.addBackupProvider({ backupProviderBaseUrl: PROVIDER, activate: true });
    await w.addBackupProvider({ backupProviderBaseUrl: PROVIDER });
    expect((await w.getBackupInfo()).providers.map((p) => p.active)).toEqual([true]);
  });
});

// `wallet-engine sync add-provider | remove-provider | run | info`: the sync
// operations of the table (addBackupProvider, runBackupCycle, getBackupInfo).
// `sync-server` (the provider itself) is src/cli/sync-server.ts.
import type { BackupCycleResult } from "../ops/sync.ts";
import type { VectorClock } from "../events/clock.ts";
import type { Command, CommandContext } from "./command.ts";
import { abbreviate, fields, formatTime, status, table } from "./format.ts";

interface ProviderInfo {
  active: boolean;
  syncProviderBaseUrl: string;
  lastBackupHash?: string;
  lastBackupTimestamp?: unknown;
  lastError?: unknown;
  paymentRequired?: { talerUri: string };
}

type CycleResult = BackupCycleResult;

interface BackupInfo {
  walletRootPub: string;
  deviceId: string;
  lastLocalClock: VectorClock;
  providers: ProviderInfo[];
}

/** A timestamp as ms or as Taler's `{ t_s }`. */
function timeText(t: unknown): string {
  if (typeof t === "number") return formatTime(t);
  if (typeof t === "object" && t !== null && typeof (t as { t_s?: unknown }).t_s === "number") return formatTime((t as { t_s: number }).t_s * 1000);
  return t === undefined ? "-" : String(t);
}

function errorText(e: unknown): string {
  if (e === undefined) return "";
  if (typeof e === "object" && e !== null && "code" in e) return String((e as { code: unknown }).code);
  return typeof e === "string" ? e : JSON.stringify(e);
}

/** One line per provider asking for payment, with the URI a Taler wallet pays it with (too long for a table cell). */
function paymentLines(info: BackupInfo): string[] {
  return info.providers.flatMap((p) => (p.paymentRequired ? [`${p.syncProviderBaseUrl}: payment required, pay with ${p.paymentRequired.talerUri}`] : []));
}

function infoText(cx: CommandContext, info: BackupInfo): string {
  const clock = Object.keys(info.lastLocalClock).sort().map((d) => `${d}:${info.lastLocalClock[d]}`).join(",");
  const pay = paymentLines(info);
  return [
    fields(cx.style, [
      ["device", info.deviceId],
      ["root key", info.walletRootPub],
      ["local clock", clock || "(empty)"],
    ]),
    "",
    info.providers.length === 0
      ? "no sync providers (sync add-provider URL)"
      : table(
          cx.style,
          ["PROVIDER", "STATE", "LAST BACKUP", "HASH", "ERROR"],
          info.providers.map((p) => [
            p.syncProviderBaseUrl,
            p.paymentRequired ? { text: "payment-required", colour: "yellow" } : status(p.active ? "active" : "inactive"),
            timeText(p.lastBackupTimestamp),
            p.lastBackupHash ? abbreviate(p.lastBackupHash, 16) : "-",
            { text: errorText(p.lastError), colour: "red" },
          ]),
        ),
    ...(pay.length === 0 ? [] : ["", ...pay]),
  ].join("\n");
}

const url = [{ name: "URL" }];

export const syncCommands: Command[] = [
  {
    words: ["sync", "add-provider"],
    summary: "add a sync provider that keeps an encrypted backup of this wallet",
    args: url,
    options: { inactive: { type: "boolean", help: "add it without activating it" } },
    wallet: "create",
    async run(cx) {
      await cx.request("addBackupProvider", { backupProviderBaseUrl: cx.args[0], activate: cx.opts.inactive !== true });
      const info = (await cx.request("getBackupInfo")) as BackupInfo;
      cx.print(info, () => infoText(cx, info));
    },
  },
  {
    words: ["sync", "remove-provider"],
    summary: "stop backing up to a sync provider",
    args: url,
    options: {},
    wallet: "existing",
    async run(cx) {
      await cx.request("removeBackupProvider", { backupProviderBaseUrl: cx.args[0] });
      const info = (await cx.request("getBackupInfo")) as BackupInfo;
      cx.print(info, () => infoText(cx, info));
    },
  },
  {
    words: ["sync", "run"],
    summary: "one backup cycle with every active provider: download, merge, upload",
    description:
      "Exits 1 when a provider failed or asks for payment (each is named on stderr, a payment with its taler://pay URI), even if others stored the backup. With --json prints { cycle, info }: the cycle's outcome per provider (runBackupCycle) and the providers' state after it (getBackupInfo).",
    args: [],
    options: {},
    wallet: "existing",
    async run(cx) {
      const bar = cx.progress("sync");
      let step = 0;
      // Each commit the cycle makes (an import, a provider's state) moves the spinner.
      const unsubscribe = cx.wallet.addNotificationListener((n) => bar.update(++step, n.type));
      const ticker = setInterval(() => bar.update(++step, "waiting for the providers"), 100);
      let cycle: CycleResult;
      try {
        bar.update(0, "starting");
        // Asked for by hand: providers backing off after a failure are tried now too.
        cycle = (await cx.request("runBackupCycle", { force: true })) as CycleResult;
      } finally {
        clearInterval(ticker);
        unsubscribe();
        bar.finish();
      }
      const info = (await cx.request("getBackupInfo")) as BackupInfo;
      cx.print({ cycle, info }, () =>
        [
          ...cycle.providers.map(
            (p) =>
              `${p.syncProviderBaseUrl}: ${p.outcome} (${p.uploads} upload(s), ${p.merged} event(s) merged)${p.error ? `: ${p.error.code}` : ""}${p.talerUri ? `: pay with ${p.talerUri}` : ""}`,
          ),
          "",
          infoText(cx, info),
        ].join("\n"),
      );
      // A cycle records a provider's failure instead of throwing it; a script still needs to see it.
      const failed = cycle.providers.filter((p) => p.outcome === "failed" || p.outcome === "payment-required");
      for (const p of failed) {
        const message = p.error?.message ?? (p.talerUri ? `payment required, pay with ${p.talerUri}` : p.outcome);
        cx.io.stderr.write(`error: ${p.error?.code ?? p.outcome}: ${p.syncProviderBaseUrl}: ${message.replace(/\s*\n\s*/g, " ")}\n`);
      }
      return failed.length > 0 ? 1 : 0;
    },
  },
  {
    words: ["sync", "info"],
    summary: "this wallet's sync providers and the outcome of their last cycle",
    args: [],
    options: {},
    wallet: "existing",
    async run(cx) {
      const info = (await cx.request("getBackupInfo")) as BackupInfo;
      cx.print(info, () => infoText(cx, info));
    },
  },
];

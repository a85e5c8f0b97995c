// `wallet-engine backup export | import | recovery`: the backup operations
// of the table (exportBackup*, importBackup*, getBackupRecovery), by name.
import { readFileSync, writeFileSync } from "node:fs";
import type { VectorClock } from "../events/clock.ts";
import { WalletError } from "../errors.ts";
import type { Command } from "./command.ts";
import { fields, table } from "./format.ts";

/** The magic that starts a TLRWBK01 backup file (DESIGN.md). */
const MAGIC = "TLRWBK01";

/** The bytes of an encrypted export: in-process the operation gives a Uint8Array; a base64 string is taken too. */
function bytesOf(result: unknown): Uint8Array {
  if (result instanceof Uint8Array) return result;
  if (typeof result === "string") return Buffer.from(result, "base64");
  throw new WalletError("internal-error", "exportBackupEncrypted answered with something that is not bytes");
}

const eventCount = (c: VectorClock) => Object.values(c).reduce((a, b) => a + b, 0);

function readInput(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WalletError("file-unreadable", `cannot read ${path}: ${(e as Error).message}`, { path });
  }
}

const exportCommand: Command = {
  words: ["backup", "export"],
  summary: "write a backup of the wallet to FILE (encrypted TLRWBK01, or --plain JSON)",
  description: "The encrypted file opens only with this wallet's root key (see `backup recovery`).",
  args: [{ name: "FILE" }],
  options: { plain: { type: "boolean", help: "write the plain backup object as JSON (unencrypted: keep it safe)" } },
  wallet: "existing",
  async run(cx) {
    const [file] = cx.args;
    const plain = cx.opts.plain === true;
    const bar = cx.progress("backup export", 2);
    bar.update(0, "exporting");
    let bytes: Uint8Array;
    try {
      bytes = plain ? Buffer.from(JSON.stringify(await cx.request("exportBackupPlain"))) : bytesOf(await cx.request("exportBackupEncrypted"));
      bar.update(1, `writing ${file}`);
      try {
        writeFileSync(file, bytes);
      } catch (e) {
        throw new WalletError("file-unwritable", `cannot write ${file}: ${(e as Error).message}`, { path: file });
      }
      bar.update(2);
    } finally {
      bar.finish();
    }
    const format = plain ? "plain JSON" : MAGIC;
    cx.print({ file, bytes: bytes.length, format }, () => `wrote ${bytes.length} bytes (${format}) to ${file}`);
  },
};

const importCommand: Command = {
  words: ["backup", "import"],
  summary: "merge a backup file into the wallet (encrypted TLRWBK01 or plain JSON)",
  description: "A backup is merged, never replaces what the wallet holds; a wrong key or a damaged file changes nothing.",
  args: [{ name: "FILE" }],
  options: {},
  wallet: "create",
  async run(cx) {
    const [file] = cx.args;
    const bar = cx.progress("backup import", 3);
    let before: VectorClock;
    let after: VectorClock;
    let format: string;
    try {
      bar.update(0, `reading ${file}`);
      const bytes = readInput(file);
      before = (await cx.request("getVectorClock")) as VectorClock;
      bar.update(1, "merging");
      if (Buffer.from(bytes.subarray(0, MAGIC.length)).toString("latin1") === MAGIC) {
        format = MAGIC;
        await cx.request("importBackupEncrypted", bytes);
      } else {
        let obj: unknown;
        try {
          obj = JSON.parse(Buffer.from(bytes).toString("utf8"));
        } catch {
          // Neither: the engine says what is wrong with it as an encrypted file.
          obj = undefined;
        }
        format = obj === undefined ? MAGIC : "plain JSON";
        await (obj === undefined ? cx.request("importBackupEncrypted", bytes) : cx.request("importBackupPlain", obj));
      }
      bar.update(2, "reading the clock");
      after = (await cx.request("getVectorClock")) as VectorClock;
      bar.update(3);
    } finally {
      bar.finish();
    }
    const added = eventCount(after) - eventCount(before);
    cx.print({ file, format, added }, () => `merged ${file} (${format}): ${added} new event${added === 1 ? "" : "s"}`);
  },
};

interface Recovery {
  walletRootPriv: string;
  providers: { url: string }[];
}

const recoveryCommand: Command = {
  words: ["backup", "recovery"],
  summary: "the recovery document: the wallet's root key and its sync providers",
  description: "The root key opens every backup of this wallet: it is printed only with --show-secret.",
  args: [],
  options: { "show-secret": { type: "boolean", help: "print the wallet root key as well" } },
  wallet: "existing",
  async run(cx) {
    const rec = (await cx.request("getBackupRecovery")) as Recovery;
    const show = cx.opts["show-secret"] === true;
    const data = show ? rec : { providers: rec.providers };
    cx.print(data, () =>
      [
        fields(cx.style, [["root key", show ? { text: rec.walletRootPriv, colour: "yellow" } : { text: "(hidden; --show-secret prints it)", colour: "dim" }]]),
        rec.providers.length === 0 ? "no sync providers" : table(cx.style, ["PROVIDER"], rec.providers.map((p) => [p.url])),
      ].join("\n"),
    );
  },
};

export const backupCommands: Command[] = [exportCommand, importCommand, recoveryCommand];

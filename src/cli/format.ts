// Human output of the command-line tool: aligned tables, amounts with their
// currency, coloured statuses, times. Colour is a property of the stream it
// is written to, decided once (a TTY, and NO_COLOR not set).
import { parseAmount, type AmountString } from "../codec/amounts.ts";

export type Colour = "green" | "yellow" | "red" | "cyan" | "magenta" | "dim" | "bold";

const SGR: Record<Colour, string> = { green: "32", yellow: "33", red: "31", cyan: "36", magenta: "35", dim: "2", bold: "1" };

/** How text is painted on one stream. */
export interface Style {
  color: boolean;
}

/** Colour only on a terminal, and never when NO_COLOR is set to anything (https://no-color.org). */
export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Style {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== "";
  return { color: stream.isTTY === true && !noColor && env.TERM !== "dumb" };
}

export function paint(style: Style, colour: Colour | undefined, text: string): string {
  return style.color && colour !== undefined && text !== "" ? `\x1b[${SGR[colour]}m${text}\x1b[0m` : text;
}

/** A table cell: its text, and the colour it has on a terminal (widths count the text only). */
export interface Cell {
  text: string;
  colour?: Colour;
}

export type CellInput = string | Cell;

const cellOf = (c: CellInput): Cell => (typeof c === "string" ? { text: c } : c);

/**
 * Rows under a header, columns padded to their widest cell and two spaces
 * apart; `right` lists the columns aligned right. No trailing spaces.
 */
export function table(style: Style, header: string[], rows: CellInput[][], opts: { right?: number[] } = {}): string {
  const all = [header.map((h) => ({ text: h, colour: "bold" as Colour })), ...rows.map((r) => r.map(cellOf))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i]?.text ?? "")].length)));
  const right = new Set(opts.right ?? []);
  return all
    .map((r) =>
      r
        .map((c, i) => {
          const pad = " ".repeat(widths[i] - [...c.text].length);
          const last = i === r.length - 1;
          const text = paint(style, c.colour, c.text);
          return right.has(i) ? pad + text : last ? text : text + pad;
        })
        .join("  ")
        .replace(/ +$/, ""),
    )
    .join("\n");
}

/** `label: value` lines with the values aligned. */
export function fields(style: Style, entries: [string, CellInput | undefined][]): string {
  const shown = entries.filter((e): e is [string, CellInput] => e[1] !== undefined);
  const w = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${paint(style, cellOf(v).colour, cellOf(v).text)}`).join("\n");
}

/** "KUDOS:1.5" as people read it: "KUDOS 1.5". */
export function formatAmountHuman(a: AmountString): string {
  const i = a.indexOf(":");
  return i < 0 ? a : `${a.slice(0, i)} ${a.slice(i + 1)}`;
}

/**
 * A column of amounts with their decimal points under each other:
 * "KUDOS  5", "KUDOS 12.25" → "KUDOS  5   ", "KUDOS 12.25".
 */
export function alignAmounts(list: AmountString[]): string[] {
  const parts = list.map((a) => {
    const { currency } = parseAmount(a);
    const [int, frac] = a.slice(currency.length + 1).split(".");
    return { currency, int: int ?? "", frac };
  });
  const wc = Math.max(0, ...parts.map((p) => p.currency.length));
  const wi = Math.max(0, ...parts.map((p) => p.int.length));
  const wf = Math.max(0, ...parts.map((p) => (p.frac === undefined ? 0 : p.frac.length + 1)));
  return parts.map((p) => `${p.currency.padEnd(wc)} ${p.int.padStart(wi)}${(p.frac === undefined ? "" : `.${p.frac}`).padEnd(wf)}`);
}

/** A time in ms as an unambiguous UTC stamp, to the second. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** The colour a DD 48 status or a check result has on a terminal. */
export function statusColour(status: string): Colour | undefined {
  switch (status) {
    case "used":
    case "ready":
    case "ready-update":
    case "accepted":
    case "ok":
    case "matched":
    case "active":
      return "green";
    case "initial":
    case "initial-update":
    case "pending":
    case "proposed":
    case "ephemeral":
      return "yellow";
    case "unavailable-update":
    case "failed":
    case "differed":
    case "double-spend":
      return "red";
    case "suspended":
    case "inactive":
      return "magenta";
    case "preset":
      return "cyan";
    default:
      return undefined;
  }
}

export const status = (s: string): Cell => ({ text: s, colour: statusColour(s) });

/**
 * JSON for scripts: bytes (a backup file) as base64, everything else as
 * JSON.stringify has it; indented, or one line for streams of JSON lines.
 */
export function toJson(value: unknown, form: "indented" | "line" = "indented"): string {
  const bytes = (_k: string, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v);
  return JSON.stringify(value, bytes, form === "line" ? undefined : 2) ?? "null";
}

/** Shortens a long key or hash for a table: its first and last characters. */
export function abbreviate(s: string, max = 20): string {
  return s.length <= max ? s : `${s.slice(0, max - 9)}…${s.slice(-8)}`;
}

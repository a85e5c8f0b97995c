// A progress bar for long commands. It is for a person watching: drawn on
// stderr only when stderr is a terminal, so piped output and logs stay clean.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface Progress {
  /** `done` of `total` steps (or one more tick when the total is unknown), with what happens now. */
  update(done: number, label?: string): void;
  /** Erases the bar; the command's own output follows on a clean line. */
  finish(): void;
}

const NONE: Progress = { update() {}, finish() {} };
const WIDTH = 24;
const SPINNER = ["|", "/", "-", "\\"];
/** Redraws at most this often, but always the first frame and the last step. */
const MIN_INTERVAL_MS = 50;

/**
 * A bar `title [#####-------] 2/4 label` when `total` is known, a spinner
 * `title | label` when not. Nothing at all unless `stream` is a terminal.
 */
export function progressBar(
  stream: ProgressStream,
  env: Record<string, string | undefined>,
  title: string,
  total?: number,
  now: () => number = Date.now,
): Progress {
  if (stream.isTTY !== true || env.TERM === "dumb") return NONE;
  let last = -Infinity;
  let ticks = 0;
  let drawn = false;
  // A pseudo-terminal without a size says 0 columns: take the usual 80.
  const columns = Math.max(20, stream.columns || 80);
  const draw = (done: number, label: string) => {
    let line: string;
    if (total !== undefined && total > 0) {
      const d = Math.max(0, Math.min(done, total));
      const filled = Math.round((d / total) * WIDTH);
      line = `${title} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${d}/${total}`;
    } else {
      line = `${title} ${SPINNER[ticks++ % SPINNER.length]}`;
    }
    if (label !== "") line += ` ${label}`;
    // One line, never wrapped: a wrapped line cannot be redrawn with \r.
    stream.write(`\r\x1b[K${[...line].slice(0, columns - 1).join("")}`);
    drawn = true;
  };
  return {
    update(done, label = "") {
      const t = now();
      const final = total !== undefined && done >= total;
      if (!drawn || final || t - last >= MIN_INTERVAL_MS) {
        last = t;
        draw(done, label);
      }
    },
    finish() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

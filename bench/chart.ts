// bench/cost-vs-history.svg, drawn by hand from one run's summaries: each
// operation's cost per event (median µs, log scale) against history size
// (log scale). A flat line is a cost that does not grow with history; ours
// solid, its raw lmdb ceiling dashed in the same colour.
import type { Operation, OperationSummary } from "./report.ts";

const W = 980;
const H = 560;
const PLOT = { left: 80, top: 50, right: 620, bottom: 490 };
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const sizeLabel = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1_000 ? `${n / 1_000}k` : String(n));
const usLabel = (us: number) => (us >= 1_000_000 ? `${us / 1_000_000} s` : us >= 1_000 ? `${us / 1_000} ms` : us >= 1 ? `${us} µs` : `${us * 1000} ns`);

export function costChart(rows: OperationSummary[], ops: Operation[], subtitle: string): string {
  const sizes = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
  const values = rows.flatMap((r) => [r.oursUsPerEvent.median, r.rawUsPerEvent.median]).filter((v) => v > 0 && Number.isFinite(v));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${PLOT.left}" y="22" font-size="16" font-weight="bold">Cost per event against history size</text>`,
    `<text x="${PLOT.left}" y="40" fill="#555">${esc(subtitle)}; solid: our engine, dashed: raw lmdb ceiling of the same events</text>`,
  ];
  if (sizes.length === 0 || values.length === 0) {
    out.push(`<text x="${PLOT.left}" y="${PLOT.top + 40}">no history sizes in this run</text></svg>`);
    return out.join("\n");
  }
  // Decade-aligned log axes, with the x range padded so single sizes still show.
  const xLo = Math.log10(sizes[0]) - 0.15;
  const xHi = Math.log10(sizes[sizes.length - 1]) + 0.15;
  const yLo = Math.floor(Math.log10(Math.min(...values)));
  const yHi = Math.ceil(Math.log10(Math.max(...values)));
  const x = (n: number) => PLOT.left + ((Math.log10(n) - xLo) / (xHi - xLo)) * (PLOT.right - PLOT.left);
  const y = (us: number) => PLOT.bottom - ((Math.log10(us) - yLo) / Math.max(1, yHi - yLo)) * (PLOT.bottom - PLOT.top);

  for (let e = yLo; e <= yHi; e++) {
    const v = 10 ** e;
    out.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${PLOT.left - 8}" y="${y(v) + 4}" text-anchor="end">${usLabel(v)}</text>`);
  }
  for (const n of sizes) {
    out.push(`<line x1="${x(n)}" x2="${x(n)}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${x(n)}" y="${PLOT.bottom + 18}" text-anchor="middle">${sizeLabel(n)}</text>`);
  }
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 40}" text-anchor="middle">history size N (events, log scale)</text>`);
  out.push(`<text transform="translate(22 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle">median cost per event (log scale)</text>`);

  ops.forEach((op, i) => {
    const color = COLORS[i % COLORS.length];
    const mine = rows.filter((r) => r.operation === op.ours).sort((a, b) => a.n - b.n);
    if (mine.length === 0) return;
    for (const [pick, dash] of [[(r: OperationSummary) => r.oursUsPerEvent.median, ""], [(r: OperationSummary) => r.rawUsPerEvent.median, ` stroke-dasharray="6 4"`]] as const) {
      const pts = mine.map((r) => `${x(r.n).toFixed(1)},${y(pick(r)).toFixed(1)}`);
      out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of pts) {
        const [px, py] = p.split(",");
        out.push(`<circle cx="${px}" cy="${py}" r="${dash ? 2.5 : 3.5}" fill="${dash ? "white" : color}" stroke="${color}"/>`);
      }
    }
    const ly = PLOT.top + 10 + i * 44;
    out.push(`<line x1="${PLOT.right + 20}" x2="${PLOT.right + 50}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${PLOT.right + 58}" y="${ly + 4}">${esc(op.short)}</text>`);
    out.push(`<line x1="${PLOT.right + 20}" x2="${PLOT.right + 50}" y1="${ly + 18}" y2="${ly + 18}" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${PLOT.right + 58}" y="${ly + 22}" fill="#555">raw: ${esc(op.ceiling.length > 44 ? `${op.ceiling.slice(0, 42)}…` : op.ceiling)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

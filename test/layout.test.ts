// The layout shows the design: no two folders of src/ import each other
// (directly or around a loop), transport holds only HTTP, and the main entry
// does not carry the testing fixtures into an embedding wallet's bundle.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Relative imports of a file (type-only ones included: they are dependencies of the design too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g)) out.push(resolve(dirname(file), m[1]));
  return out;
}

const folderOf = (file: string) => {
  const rel = relative(SRC, file).split("/");
  return rel.length === 1 ? "(root)" : rel[0];
};

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("layout", () => {
  it("has no import cycle between folders of src/", () => {
    const edges = new Map<string, Set<string>>();
    for (const [f, deps] of graph) {
      for (const d of deps) {
        const a = folderOf(f);
        const b = folderOf(d);
        if (a !== b && a !== "(root)" && b !== "(root)") (edges.get(a) ?? edges.set(a, new Set()).get(a)!).add(b);
      }
    }
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      for (const next of edges.get(node) ?? []) {
        if (path.includes(next)) cycles.push([...path.slice(path.indexOf(next)), next].join(" → "));
        else visit(next, [...path, next]);
      }
    };
    for (const start of edges.keys()) visit(start, [start]);
    expect(cycles).toEqual([]);
  });

  it("keeps the testing fixtures out of the main entry's import graph", () => {
    const seen = new Set<string>();
    const walk = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const d of graph.get(f) ?? []) walk(d);
    };
    walk(join(SRC, "index.ts"));
    expect([...seen].filter((f) => folderOf(f) === "testing").map((f) => relative(SRC, f))).toEqual([]);
  });

  it("keeps src/codec free of I/O and of the engine's other folders", () => {
    for (const f of files.filter((x) => folderOf(x) === "codec")) {
      for (const d of graph.get(f)!) expect(["codec", "(root)"], `${relative(SRC, f)} imports ${relative(SRC, d)}`).toContain(folderOf(d));
      expect(readFileSync(f, "utf8")).not.toMatch(/from "node:(http|https|net|fs)"/);
    }
  });
});

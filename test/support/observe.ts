// Drives observe-child.ts over many wallet directories, restarting it after
// a crash: each directory gets its observation, or "crashed" with the signal.
import type { Observation } from "./observe-child.ts";
import { startTsChild } from "./ts-child.ts";

export type { Observation };
export type Observed = Observation | { dir: string; outcome: "crashed"; signal: string; stderr: string };

export async function observeInChildren(dirs: string[]): Promise<Map<string, Observed>> {
  const out = new Map<string, Observed>();
  let todo = [...dirs];
  while (todo.length > 0) {
    const child = startTsChild("observe-child.ts", [], { timeoutMs: 30_000 + 5_000 * todo.length });
    let begun: string | undefined;
    const results = (async () => {
      for (;;) {
        const line = await child.line();
        const msg = JSON.parse(line) as { begin?: string } | Observation;
        if ("begin" in msg && typeof msg.begin === "string") begun = msg.begin;
        else {
          out.set((msg as Observation).dir, msg as Observation);
          begun = undefined;
        }
      }
    })().catch(() => {});
    for (const d of todo) child.send(d);
    child.proc.stdin.end();
    const { code, signal, stderr } = await child.exited;
    await results;
    if (begun !== undefined) {
      out.set(begun, { dir: begun, outcome: "crashed", signal: signal ?? `exit ${code}`, stderr: stderr.slice(-2000) });
    } else if (code !== 0 || signal !== null) {
      throw new Error(`observe-child failed outside any wallet (${code ?? signal}):\n${stderr}`);
    }
    todo = todo.filter((d) => !out.has(d));
  }
  return out;
}

// Deadlines and bounded reads for HTTP clients that must never hang and never throw.

/** Node's timers hold at most 2^31 - 1 ms; a longer one fires at once (after a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export type Attempt<T> = { done: true; value: T } | { done: false; timedOut: boolean; error: unknown };

/**
 * Runs `work` (request and body read) under a deadline. The race, not just
 * the abort signal, enforces it: an injected HTTP function that ignores
 * `signal` still cannot make the caller hang; its late rejection is swallowed.
 * `outer` (a wallet closing) ends the work like the deadline does, only sooner.
 */
export async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<Attempt<T>> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort();
  if (outer?.aborted) controller.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<Attempt<T>>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve({ done: false, timedOut: true, error: undefined });
      controller.abort();
    }, timeoutMs);
  });
  let running: Promise<Attempt<T>>;
  try {
    running = work(controller.signal).then(
      (value): Attempt<T> => ({ done: true, value }),
      (error: unknown): Attempt<T> => ({ done: false, timedOut, error }),
    );
  } catch (error) {
    running = Promise.resolve({ done: false, timedOut: false, error });
  }
  const aborted = new Promise<Attempt<T>>((resolve) => {
    if (controller.signal.aborted) resolve({ done: false, timedOut: false, error: new Error("aborted: the wallet is closing") });
    controller.signal.addEventListener("abort", () => resolve({ done: false, timedOut, error: new Error("aborted: the wallet is closing") }), {
      once: true,
    });
  });
  try {
    return await Promise.race([running, deadline, aborted]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

/** The body as bytes, or "too-large" as soon as it passes `maxBytes` (the rest is not read). */
export async function readBodyBounded(resp: Response, maxBytes: number): Promise<Uint8Array | "too-large"> {
  const declared = resp.headers.get("Content-Length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    await resp.body?.cancel().catch(() => {});
    return "too-large";
  }
  if (resp.body === null) return new Uint8Array(0);
  const reader = resp.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return "too-large";
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

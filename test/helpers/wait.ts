import { existsSync, readFileSync } from "node:fs";

/**
 * Polls `probe` until it returns something other than undefined; returns it with the elapsed
 * milliseconds since `since` (default: now). Past `timeoutMs` it throws a message naming what it
 * waited for and where to look (docs/libvirt.md: the machines are shared, every wait needs its
 * own hard limit and a message).
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
  opts: { since?: number; intervalMs?: number; consoleLog?: string } = {},
): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const since = opts.since ?? start;
  let lastError = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, ms: Math.round(performance.now() - since) };
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (performance.now() - start > timeoutMs) {
      const parts = [`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`];
      if (lastError)
        parts.push(`last error: ${lastError.trim().split("\n").slice(-3).join(" | ")}`);
      if (opts.consoleLog) {
        parts.push(`console log: ${opts.consoleLog}`);
        parts.push(tail(opts.consoleLog, 15));
      }
      throw new Error(parts.join("\n"));
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/** The last `n` lines of a file, for failure messages. */
export function tail(file: string, n: number): string {
  if (!existsSync(file)) return "(no such file)";
  return readFileSync(file, "utf8").replaceAll("\r", "").split("\n").slice(-n).join("\n");
}

/**
 * A hard limit for a whole test file: `within(ms)` is min(ms, what is left), and throws once
 * nothing is left, so no wait can run past the file's budget.
 */
export function budget(totalMs: number): (ms: number) => number {
  const end = performance.now() + totalMs;
  return (ms) => {
    const left = Math.floor(end - performance.now());
    if (left <= 0) throw new Error(`the test file's overall ${totalMs / 1000} s budget is spent`);
    return Math.min(ms, left);
  };
}

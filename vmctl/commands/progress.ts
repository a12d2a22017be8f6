import type { CliDeps } from "../context.js";

const MIB = 2 ** 20;
const WIDTH = 30;

/**
 * Download progress: on a terminal a bar redrawn in place (at most 10 times a second), else a
 * plain line at every 10 % (every 256 MiB when the size is unknown) for logs.
 */
export function downloadProgress(deps: CliDeps, label: string, now = () => Date.now()) {
  const tty = deps.isTty === true && deps.statusLine !== undefined;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastStep = -1;
  let shown = false;
  let first: { at: number; bytes: number } | undefined;
  let last = { at: 0, bytes: 0 };
  return {
    update(received: number, total: number | undefined): void {
      const at = now();
      first ??= { at, bytes: received };
      last = { at, bytes: received };
      if (tty) {
        if (at - lastDraw < 100 && received !== total) return;
        lastDraw = at;
        shown = true;
        deps.statusLine?.(progressBar(label, received, total));
        return;
      }
      const step = total ? Math.floor((received / total) * 10) : Math.floor(received / (256 * MIB));
      if (step === lastStep) return;
      lastStep = step;
      deps.stderr(progressLine(label, received, total));
    },
    /** Ends the bar's line on a terminal. */
    done(): void {
      if (shown) deps.stderr("");
      shown = false;
    },
    /** How much this run downloaded, and how fast (first to last byte). */
    summary(): void {
      if (!first) return;
      const bytes = last.bytes - first.bytes;
      const s = Math.max(last.at - first.at, 1) / 1000;
      deps.stderr(
        `${label}: downloaded ${mib(bytes)} in ${s.toFixed(1)} s (${(bytes / MIB / s).toFixed(0)} MiB/s)`,
      );
    },
  };
}

export function progressBar(label: string, received: number, total: number | undefined): string {
  if (!total) return `${label} ${mib(received)}`;
  const filled = Math.min(WIDTH, Math.round((received / total) * WIDTH));
  const pct = Math.floor((received / total) * 100);
  return `${label} [${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${pct}% ${mib(received)} of ${mib(total)}`;
}

export function progressLine(label: string, received: number, total: number | undefined): string {
  if (!total) return `${label}: ${mib(received)}`;
  return `${label}: ${Math.floor((received / total) * 100)}% (${mib(received)} of ${mib(total)})`;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

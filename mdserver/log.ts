/** JSON-lines logger: one object per line on the given sink (stdout in production). */
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(write: (line: string) => void, minLevel: Level = "info"): Logger {
  const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  // At tens of thousands of lines a second, formatting the time once per millisecond matters.
  let lastMs = 0;
  let lastTime = "";
  return {
    log(level, msg, fields) {
      if (order[level] < order[minLevel]) return;
      const now = Date.now();
      if (now !== lastMs) {
        lastMs = now;
        lastTime = new Date(now).toISOString();
      }
      const head = `{"time":"${lastTime}","level":"${level}","msg":${JSON.stringify(msg)}`;
      const rest = fields ? JSON.stringify(fields).slice(1, -1) : "";
      write(`${head}${rest ? `,${rest}` : ""}}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };

/**
 * Batches lines written in one event-loop turn into one write: at thousands of requests a
 * second, one write(2) per log line costs as much as answering the request.
 */
export function batchedWriter(sink: (chunk: string) => void): {
  write: (line: string) => void;
  flush: () => void;
} {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join("");
    pending = [];
    sink(chunk);
  };
  return {
    write(line) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

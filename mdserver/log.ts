/** JSON-lines logger: one object per line on the given sink (stdout in production). */
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
  /** The per-request line (info), formatted without a generic JSON.stringify of an object. */
  request(r: RequestLine): void;
}

export interface RequestLine {
  client: string;
  instance: string | undefined;
  method: string;
  path: string;
  status: number;
  token: boolean;
  ms: number;
}

export function jsonLogger(write: (line: string) => void, minLevel: Level = "info"): Logger {
  const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  // At tens of thousands of lines a second, formatting the time once per millisecond matters.
  let lastMs = 0;
  let lastTime = "";
  const time = () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    return lastTime;
  };
  const requests = order.info >= order[minLevel];
  return {
    log(level, msg, fields) {
      if (order[level] < order[minLevel]) return;
      const head = `{"time":"${time()}","level":"${level}","msg":${JSON.stringify(msg)}`;
      const rest = fields ? JSON.stringify(fields).slice(1, -1) : "";
      write(`${head}${rest ? `,${rest}` : ""}}\n`);
    },
    // The same line log("info", "request", r) writes, keys in the same order. The client is an
    // address and the method an HTTP token (Node's parser refuses others): no escaping needed;
    // names and paths are quoted by JSON.stringify.
    request(r) {
      if (!requests) return;
      write(
        `{"time":"${time()}","level":"info","msg":"request","client":"${r.client}","instance":${r.instance === undefined ? "null" : JSON.stringify(r.instance)},"method":"${r.method}","path":${JSON.stringify(r.path)},"status":${r.status},"token":${r.token},"ms":${r.ms}}\n`,
      );
    },
  };
}

export const silentLogger: Logger = { log() {}, request() {} };

/** How long a line may wait for the write that carries it, and how much may wait. */
export const FLUSH_MS = 10;
export const FLUSH_BYTES = 64 * 1024;

/**
 * Batches lines into one write every FLUSH_MS (or at FLUSH_BYTES): at thousands of requests a
 * second, a write(2) to journald's pipe per event-loop turn cost more CPU than the answers
 * (stdout to a pipe is a blocking write in Node, and each one wakes the reader). A line waits
 * at most FLUSH_MS; the composition root flushes at exit.
 */
export function batchedWriter(sink: (chunk: string) => void): {
  write: (line: string) => void;
  flush: () => void;
} {
  // One string grown by += (V8 keeps it as a rope until written): no array, no join.
  let pending = "";
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending === "") return;
    const chunk = pending;
    pending = "";
    sink(chunk);
  };
  return {
    write(line) {
      pending += line;
      if (pending.length >= FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    },
    flush,
  };
}

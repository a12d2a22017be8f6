import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export const MDSERVER_BIN = resolve(import.meta.dirname, "../../dist/mdserver/main.js");

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** The built mdserver running inside a namespace; ended by its own PID. */
export class MdserverProcess {
  readonly lines: LogLine[] = [];
  stderr = "";
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  constructor(
    private readonly ns: string | undefined,
    private readonly configPath: string,
  ) {}

  async start(): Promise<void> {
    const argv = [process.execPath, MDSERVER_BIN, "--config", this.configPath];
    const [file, ...args] = this.ns ? ["ip", "netns", "exec", this.ns, ...argv] : argv;
    const child = spawn(file as string, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exited = new Promise((r) => child.once("exit", (code) => r(code)));
    let rest = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) this.lines.push(JSON.parse(p) as LogLine);
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    const ready = await Promise.race([
      this.waitFor((l) => l.msg === "mdserver listening", 20_000).then(() => true),
      this.exited.then(() => false),
    ]);
    if (!ready) throw new Error(`mdserver exited at start: ${this.stderr.trim()}`);
  }

  /** Waits for a log line matching `pred` (already seen ones count). */
  async waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`no matching mdserver log line in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** node's PID (`ip netns exec` execs it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  requests(): LogLine[] {
    return this.lines.filter((l) => l.msg === "request");
  }

  /** The server's resident memory in KiB (`ip netns exec` execs node, so the PID is node's). */
  rssKiB(): number {
    const status = readFileSync(`/proc/${this.child?.pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child?.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs mdserver to completion (for startup errors): exit code, stdout and stderr. */
export function runMdserver(
  args: string[],
  ns?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = [process.execPath, MDSERVER_BIN, ...args];
  const [file, ...rest] = ns ? ["ip", "netns", "exec", ns, ...argv] : argv;
  return new Promise((res) => {
    const child = spawn(file as string, rest, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

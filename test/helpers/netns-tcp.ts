import { type ChildProcess, execFile, spawn } from "node:child_process";

/**
 * TCP probes for firewall tests: echo servers in a namespace, one-shot connects, and a
 * long-lived flow that reports whether it kept working. Every process is started here and
 * ended by its PID (`stop`).
 */
const SERVER = `
const net = require("node:net");
const [host, ...ports] = process.argv.slice(1);
let n = 0;
for (const p of ports) net.createServer((s) => { s.on("error", () => {}); s.pipe(s); })
  .listen(Number(p), host, () => { if (++n === ports.length) console.log("ready"); });`;

const CONNECT = `
const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);
const t = setTimeout(() => { console.log("timeout"); process.exit(1); }, Number(process.argv[3]));
s.on("connect", () => s.write("x"));
s.on("data", () => { clearTimeout(t); console.log("ok"); process.exit(0); });
s.on("error", (e) => { console.log(e.code); process.exit(1); });`;

/** Sends a line every 50 ms, counts echoes; prints the counts on SIGTERM. */
const FLOW = `
const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);
let sent = 0, got = 0, err = "";
s.on("connect", () => { console.log("connected"); setInterval(() => { s.write("ping\\n"); sent++; }, 50); });
s.on("data", (d) => { got += d.toString().split("\\n").length - 1; });
s.on("error", (e) => { err = e.code; });
s.on("close", () => { err = err || "closed"; });
process.on("SIGTERM", () => { console.log(JSON.stringify({ sent, got, err })); process.exit(0); });`;

const children: ChildProcess[] = [];

function waitFor(child: ChildProcess, word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => {
      out += c;
      if (out.includes(word)) resolve();
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before "${word}": ${out}`)));
  });
}

export async function echoServers(ns: string, host: string, ports: number[]): Promise<void> {
  const child = spawn("ip", [
    "netns",
    "exec",
    ns,
    process.execPath,
    "-e",
    SERVER,
    host,
    ...ports.map(String),
  ]);
  children.push(child);
  await waitFor(child, "ready");
}

/** Whether a TCP connection from `ns` to addr:port is answered within `ms`. */
export function tcpOk(ns: string, addr: string, port: number, ms = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      "ip",
      ["netns", "exec", ns, process.execPath, "-e", CONNECT, addr, String(port), String(ms)],
      { encoding: "utf8" },
      (_err, stdout) => resolve(stdout.trim() === "ok"),
    );
  });
}

export interface Flow {
  /** Ends the flow; what it counted. */
  end(): Promise<{ sent: number; got: number; err: string }>;
}

export async function longFlow(ns: string, addr: string, port: number): Promise<Flow> {
  const child = spawn("ip", [
    "netns",
    "exec",
    ns,
    process.execPath,
    "-e",
    FLOW,
    addr,
    String(port),
  ]);
  children.push(child);
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (c: string) => {
    out += c;
  });
  await waitFor(child, "connected");
  return {
    end: () =>
      new Promise((resolve) => {
        child.on("exit", () => resolve(JSON.parse(out.split("\n").filter(Boolean).pop() ?? "{}")));
        // `ip netns exec` execs node, so this PID is the flow's own process.
        if (child.pid) process.kill(child.pid, "SIGTERM");
      }),
  };
}

/** Ends every process this module started, by PID. */
export function stopAll(): void {
  for (const c of children) {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

import { type ChildProcess, execFile, spawn } from "node:child_process";

// TCP listeners and connection attempts inside namespaces, for the protection tests: node
// one-liners (the machine has no nc or socat), each ended by its own PID.

const LISTENER = `
const net = require("node:net");
const srv = net.createServer((s) => { s.end("hello " + s.remoteAddress + "\\n"); });
srv.listen(Number(process.argv[2]), process.argv[1], () => console.log("ready"));`;

/** A TCP server in `ns` on `addr:port` that greets each client with its source address. */
export class TcpListener {
  private child: ChildProcess | undefined;

  constructor(
    readonly ns: string,
    readonly addr: string,
    readonly port: number,
  ) {}

  start(): Promise<void> {
    // `ip netns exec` execs node, so the child's PID is node's own.
    const child = spawn("ip", [
      "netns",
      "exec",
      this.ns,
      process.execPath,
      "-e",
      LISTENER,
      this.addr,
      String(this.port),
    ]);
    this.child = child;
    return new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        if (out.includes("ready")) resolve();
      });
      child.stderr.setEncoding("utf8").on("data", (c: string) => {
        err += c;
      });
      child.once("exit", (code) => reject(new Error(`listener exited ${code}: ${err}`)));
    });
  }

  stop(): void {
    if (this.child && this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

const CONNECT = `
const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.setTimeout(Number(process.argv[3]));
let got = "";
s.on("data", (d) => { got += d; });
s.on("end", () => { console.log(got.trim()); process.exit(0); });
s.on("timeout", () => { console.log("timeout"); process.exit(1); });
s.on("error", (e) => { console.log(e.code); process.exit(1); });`;

/**
 * Connects from `ns` to `addr:port`: the greeting (the server's view of our address) when the
 * whole exchange worked — SYN, SYN-ACK, data both ways, i.e. stateful return traffic — else
 * undefined (timeout: dropped; ECONNREFUSED: a reset reached us).
 */
export function tcpConnect(
  ns: string,
  addr: string,
  port: number,
  timeoutMs = 1500,
): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(
      "ip",
      ["netns", "exec", ns, process.execPath, "-e", CONNECT, addr, String(port), String(timeoutMs)],
      { encoding: "utf8", timeout: timeoutMs + 10_000 },
      (err, stdout) => resolve({ ok: !err && stdout.startsWith("hello "), out: stdout.trim() }),
    );
  });
}

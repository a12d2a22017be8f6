import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Reservation {
  mac: string;
  ip: string;
  name: string;
}

export interface Lease {
  expires: number;
  mac: string;
  ip: string;
  hostname: string;
}

/**
 * A DHCP-only dnsmasq on one bridge inside a namespace: DNS off (`--port=0`), static reservations
 * only (an unknown MAC gets nothing), its own lease and pid files in `dir`. Ended by its PID.
 */
export class TestDnsmasq {
  readonly leaseFile: string;
  stderr = "";
  private child: ChildProcess | undefined;

  constructor(
    private readonly ns: string,
    private readonly bridge: string,
    private readonly subnet: { network: string; netmask: string },
    private readonly reservations: Reservation[],
    private readonly dir: string,
  ) {
    this.leaseFile = join(dir, "dnsmasq.leases");
  }

  async start(): Promise<void> {
    const args = [
      "netns",
      "exec",
      this.ns,
      "dnsmasq",
      "--conf-file=/dev/null",
      "--keep-in-foreground",
      "--log-facility=-",
      "--log-dhcp",
      "--bind-interfaces",
      `--interface=${this.bridge}`,
      "--except-interface=lo",
      "--port=0",
      `--dhcp-range=${this.subnet.network},static,${this.subnet.netmask},1h`,
      ...this.reservations.map((r) => `--dhcp-host=${r.mac},${r.ip},${r.name}`),
      "--dhcp-authoritative",
      `--dhcp-leasefile=${this.leaseFile}`,
      `--pid-file=${join(this.dir, "dnsmasq.pid")}`,
      "--user=root",
      "--group=root",
    ];
    const child = spawn("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      this.stderr += c;
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.leaseFile)) {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`dnsmasq did not start in 10 s: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The current leases (dnsmasq rewrites the file; it is only ever read here). */
  leases(): Lease[] {
    if (!existsSync(this.leaseFile)) return [];
    return readFileSync(this.leaseFile, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => {
        const [expires, mac, ip, hostname] = l.split(" ");
        return {
          expires: Number(expires),
          mac: mac ?? "",
          ip: ip ?? "",
          hostname: hostname ?? "",
        };
      });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }
}

import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inNs, ip, run } from "./md-netns.js";
import type { CliResult } from "./netns-fabric.js";

/**
 * Two sites in namespaces this run creates (unique names) and removes:
 *   <id>-la : site main's LAN 198.18.0.0/24 (a bridge): r1 .1, r2 .2, host1 .11, host2 .12
 *   <id>-lb : site b's LAN 198.18.1.0/24: r3 .1, host3 .13
 *   <id>-in : the "internet" 198.19.0.0/24, a bridge with .254 on it: r1 .1, r2 .2, r3 .3 on
 *             their up0. It is the underlay between the sites too; it has no route to any VM.
 *   <id>-vN : VMs, eth0 on a veth whose other end (vmN) is in a host namespace
 * Nothing is added to the root namespace; no namespace has a link to a real network.
 * wireguard-go keeps its sockets in /var/run/wireguard, shared by all namespaces, and the tunnel
 * names derive from the router names: two labs with tunnels must not run at the same time.
 */
export type Machine = "host1" | "host2" | "host3" | "r1" | "r2" | "r3";
export const MACHINES: Machine[] = ["host1", "host2", "host3", "r1", "r2", "r3"];

interface Spec {
  ns: string;
  lan: "la" | "lb";
  address: string;
  uplink?: string;
}

export class SitesLab {
  readonly id = `vs${process.pid % 10000}${randomBytes(2).toString("hex")}`;
  readonly internet = `${this.id}-in`;
  readonly dir = mkdtempSync(join(tmpdir(), "vmctl-sites-"));
  readonly clusterFile = join(this.dir, "cluster.yaml");
  readonly stateDir = join(this.dir, "state");
  readonly m: Record<Machine, Spec> = {
    r1: { ns: `${this.id}-r1`, lan: "la", address: "198.18.0.1", uplink: "198.19.0.1" },
    r2: { ns: `${this.id}-r2`, lan: "la", address: "198.18.0.2", uplink: "198.19.0.2" },
    r3: { ns: `${this.id}-r3`, lan: "lb", address: "198.18.1.1", uplink: "198.19.0.3" },
    host1: { ns: `${this.id}-h1`, lan: "la", address: "198.18.0.11" },
    host2: { ns: `${this.id}-h2`, lan: "la", address: "198.18.0.12" },
    host3: { ns: `${this.id}-h3`, lan: "lb", address: "198.18.1.13" },
  };
  private readonly namespaces: string[] = [];

  ns(m: Machine): string {
    return this.m[m].ns;
  }

  /** Each machine's vmctl state-dir: namespaces share one filesystem. */
  machineDir(m: Machine): string {
    return join(this.dir, "machines", m);
  }

  create(): void {
    for (const n of [this.internet, `${this.id}-la`, `${this.id}-lb`]) this.addNs(n);
    for (const b of ["la", "lb"]) {
      ip(`${this.id}-${b}`, "link", "add", "lan0", "type", "bridge");
      ip(`${this.id}-${b}`, "link", "set", "lan0", "up");
    }
    ip(this.internet, "link", "add", "inet0", "type", "bridge");
    ip(this.internet, "addr", "add", "198.19.0.254/24", "dev", "inet0");
    ip(this.internet, "link", "set", "inet0", "up");
    for (const name of MACHINES) {
      const s = this.m[name];
      this.addNs(s.ns);
      this.port(`${this.id}-${s.lan}`, "lan0", name, s.ns, "eth0", `${s.address}/24`);
      if (s.uplink) {
        this.port(this.internet, "inet0", name, s.ns, "up0", `${s.uplink}/24`);
        ip(s.ns, "route", "add", "default", "via", "198.19.0.254");
      }
    }
    const machine = (name: Machine, extra: string[]) => {
      const s = this.m[name];
      return [
        `  - name: ${name}`,
        `    address: ${s.address}`,
        "    lan: eth0",
        `    target: netns:${s.ns}`,
        `    state-dir: ${this.machineDir(name)}`,
        ...extra.map((l) => `    ${l}`),
      ];
    };
    writeFileSync(
      this.clusterFile,
      [
        "routing: bgp",
        "wireguard: userspace",
        "hosts:",
        ...machine("host1", []),
        ...machine("host2", []),
        ...machine("host3", ["site: b"]),
        "routers:",
        ...(["r1", "r2", "r3"] as const).flatMap((r, i) =>
          machine(r, [
            "uplink: up0",
            `endpoint: ${this.m[r].uplink}`,
            `tunnel-address: 10.255.0.${i + 1}`,
            ...(r === "r3" ? ["site: b"] : []),
          ]),
        ),
        "",
      ].join("\n"),
    );
  }

  /** A VM namespace behind `dev` in its host, like FabricLab.addVm. */
  addVm(name: string, host: Machine, dev: string, cidr: string, mac: string): string {
    const ns = `${this.id}-${name}`;
    if (!this.namespaces.includes(ns)) this.addNs(ns);
    run("ip", [
      "link",
      "add",
      dev,
      "netns",
      this.ns(host),
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      ns,
    ]);
    ip(ns, "link", "set", "eth0", "address", mac);
    ip(ns, "addr", "add", cidr, "dev", "eth0");
    ip(ns, "link", "set", "eth0", "up");
    ip(ns, "route", "add", "default", "via", `${cidr.split(".").slice(0, 3).join(".")}.1`);
    return ns;
  }

  /** Unplugs (or plugs back) a machine's cables at the switches: its LAN and its uplink. */
  cable(m: Machine, up: boolean): void {
    const s = this.m[m];
    ip(`${this.id}-${s.lan}`, "link", "set", m, up ? "up" : "down");
    if (s.uplink) ip(this.internet, "link", "set", m, up ? "up" : "down");
  }

  birdPid(m: Machine): number | undefined {
    return pidOf(join(this.machineDir(m), "bird", "bird.pid"), "bird");
  }

  destroy(): void {
    // BIRD and wireguard-go outlive their namespace: stop the ones vmctl started here, by PID.
    for (const m of MACHINES) {
      const pid = this.birdPid(m);
      if (pid !== undefined) process.kill(pid, "SIGKILL");
    }
    // SIGTERM: wireguard-go then removes its socket in /var/run/wireguard (shared by all namespaces).
    const wg = this.wireguardPids();
    for (const pid of wg) process.kill(pid, "SIGTERM");
    const until = Date.now() + 3000;
    while (wg.some(alive) && Date.now() < until) execFileSync("sleep", ["0.1"]);
    for (const pid of wg.filter(alive)) process.kill(pid, "SIGKILL");
    for (const name of [...this.namespaces].reverse()) {
      try {
        run("ip", ["netns", "del", name]);
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * wireguard-go processes in this lab's routers: a process inside a namespace keeps it alive,
   * so they must be stopped before the namespaces go. Found by their network namespace (the
   * inode /run/netns/NAME is bound to), as wireguard-go writes no pid file.
   */
  wireguardPids(): number[] {
    const inodes = new Set<number>();
    for (const r of ["r1", "r2", "r3"] as const) {
      try {
        inodes.add(statSync(`/run/netns/${this.ns(r)}`).ino);
      } catch {
        // not created
      }
    }
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "wireguard-go") continue;
        const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/ns/net`));
        if (m && inodes.has(Number(m[1]))) pids.push(Number(entry));
      } catch {
        // exited meanwhile
      }
    }
    return pids;
  }

  private port(swNs: string, bridge: string, name: string, ns: string, dev: string, cidr: string) {
    run("ip", ["link", "add", name, "netns", swNs, "type", "veth", "peer", dev, "netns", ns]);
    ip(swNs, "link", "set", name, "master", bridge, "up");
    ip(ns, "addr", "add", cidr, "dev", dev);
    ip(ns, "link", "set", dev, "up");
  }

  private addNs(name: string): void {
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    ip(name, "link", "set", "lo", "up");
    inNs(name, "sysctl", ["-q", "-w", "net.ipv6.conf.default.accept_dad=0"]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidOf(file: string, comm: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8"));
    // A stale pid file must not make us signal some other process that reused the PID.
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the built CLI against this lab's cluster file and store. */
export function vmctlSites(lab: SitesLab, args: string[]): Promise<CliResult> {
  const argv = [
    "dist/vmctl/main.js",
    "--cluster",
    lab.clusterFile,
    "--state-dir",
    lab.stateDir,
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

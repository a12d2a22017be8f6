import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inNs, ip, run } from "./md-netns.js";

/**
 * The fabric test topology, entirely in namespaces this run creates (unique names) and removes:
 *   <id>-lan : bridge lan0, the LAN 198.18.0.0/24 (a switch, no addresses)
 *   <id>-rt  : router, eth0 198.18.0.1 on the LAN, up0 198.19.0.1 towards the internet
 *   <id>-in  : "internet" 198.19.0.2, no route back to the VM subnets
 *   <id>-h1/-h2 : hosts, eth0 198.18.0.11/.12
 *   <id>-vN  : VMs, eth0 on a veth whose other end (vmN) is in a host namespace
 * Nothing is added to the root namespace; no namespace has a link to a real network.
 */
export class FabricLab {
  readonly id = `vf${process.pid % 10000}${randomBytes(2).toString("hex")}`;
  readonly lan = `${this.id}-lan`;
  readonly router = `${this.id}-rt`;
  readonly internet = `${this.id}-in`;
  readonly hosts = { host1: `${this.id}-h1`, host2: `${this.id}-h2` } as const;
  readonly dir = mkdtempSync(join(tmpdir(), "vmctl-fabric-"));
  readonly clusterFile = join(this.dir, "cluster.yaml");
  readonly stateDir = join(this.dir, "state");
  private readonly namespaces: string[] = [];

  /** Each machine's vmctl state-dir (BIRD's files with routing: bgp): namespaces share one filesystem. */
  machineDir(machine: "host1" | "host2" | "router"): string {
    return join(this.dir, "machines", machine);
  }

  create(opts: { routing?: "static" | "bgp" } = {}): void {
    for (const ns of [this.lan, this.router, this.internet, this.hosts.host1, this.hosts.host2]) {
      this.ns(ns);
    }
    ip(this.lan, "link", "add", "lan0", "type", "bridge");
    ip(this.lan, "link", "set", "lan0", "up");
    this.lanPort(this.router, "rt", "198.18.0.1/24");
    this.lanPort(this.hosts.host1, "h1", "198.18.0.11/24");
    this.lanPort(this.hosts.host2, "h2", "198.18.0.12/24");
    veth(this.router, "up0", this.internet, "eth0");
    ip(this.router, "addr", "add", "198.19.0.1/24", "dev", "up0");
    ip(this.router, "link", "set", "up0", "up");
    ip(this.internet, "addr", "add", "198.19.0.2/24", "dev", "eth0");
    ip(this.internet, "link", "set", "eth0", "up");
    ip(this.router, "route", "add", "default", "via", "198.19.0.2");
    // With routing: bgp each machine's BIRD files go to its own dir. Static labs keep the
    // cluster file other tests extend with their own state-dir lines.
    const bgpStateDir = (m: "host1" | "host2" | "router") =>
      opts.routing === "bgp"
        ? [`${m === "router" ? "  " : "    "}state-dir: ${this.machineDir(m)}`]
        : [];
    writeFileSync(
      this.clusterFile,
      [
        `routing: ${opts.routing ?? "static"}`,
        "hosts:",
        ...(["host1", "host2"] as const).flatMap((h, i) => [
          `  - name: ${h}`,
          `    address: 198.18.0.${11 + i}`,
          "    lan: eth0",
          `    target: netns:${this.hosts[h]}`,
          "    libvirt: qemu:///system",
          ...bgpStateDir(h),
        ]),
        "router:",
        "  name: router",
        "  address: 198.18.0.1",
        "  lan: eth0",
        "  uplink: up0",
        `  target: netns:${this.router}`,
        ...bgpStateDir("router"),
        "",
      ].join("\n"),
    );
  }

  /**
   * A VM namespace with `address`/prefix on eth0 and a default route via `gateway`. The host
   * side `dev` is created in the host namespace, down and unattached: the port API plugs it in.
   */
  addVm(
    name: string,
    host: string,
    dev: string,
    cidr: string,
    gateway: string,
    mac: string,
  ): string {
    const ns = `${this.id}-${name}`;
    if (!this.namespaces.includes(ns)) this.ns(ns);
    run("ip", ["link", "add", dev, "netns", host, "type", "veth", "peer", "eth0", "netns", ns]);
    ip(ns, "link", "set", "eth0", "address", mac);
    ip(ns, "addr", "add", cidr, "dev", "eth0");
    ip(ns, "link", "set", "eth0", "up");
    ip(ns, "route", "add", "default", "via", gateway);
    return ns;
  }

  /** The PID of the BIRD vmctl started on a machine (from its pid file), if it runs. */
  birdPid(machine: "host1" | "host2" | "router"): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.machineDir(machine), "bird", "bird.pid"), "utf8"));
      // A stale pid file must not make us signal some other process that reused the PID.
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "bird" ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  destroy(): void {
    // BIRD daemons outlive their namespace: stop the ones vmctl started here, by PID.
    for (const m of ["host1", "host2", "router"] as const) {
      const pid = this.birdPid(m);
      if (pid !== undefined) process.kill(pid, "SIGKILL");
    }
    for (const name of [...this.namespaces].reverse()) {
      try {
        run("ip", ["netns", "del", name]);
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private lanPort(ns: string, name: string, cidr: string): void {
    veth(this.lan, name, ns, "eth0");
    ip(this.lan, "link", "set", name, "master", "lan0", "up");
    ip(ns, "addr", "add", cidr, "dev", "eth0");
    ip(ns, "link", "set", "eth0", "up");
  }

  private ns(name: string): void {
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    ip(name, "link", "set", "lo", "up");
    // Without IPv6 duplicate address detection, link-local addresses and their local routes
    // are final at once, so before/after dumps do not depend on how long the test took.
    inNs(name, "sysctl", ["-q", "-w", "net.ipv6.conf.default.accept_dad=0"]);
  }
}

function veth(nsA: string, a: string, nsB: string, b: string): void {
  run("ip", ["link", "add", a, "netns", nsA, "type", "veth", "peer", b, "netns", nsB]);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/vmctl/main.js) exactly as installed. */
export function vmctl(
  lab: FabricLab,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  // A later --cluster in args wins (commander keeps the last value).
  const argv = [
    "dist/vmctl/main.js",
    "--cluster",
    lab.clusterFile,
    "--state-dir",
    lab.stateDir,
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { env, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import { ExecRunner } from "../../lib/exec/runner.js";
import { type HostSpec, parseCluster } from "../../vmctl/net/cluster.js";
import { converge } from "../../vmctl/net/converge.js";
import type { FabricContext } from "../../vmctl/net/fabric.js";
import type { Network } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";
import { NetworkStore } from "../../vmctl/net/network-store.js";
import { attachPort, detachPort } from "../../vmctl/net/port.js";
import { freeAddresses } from "../../vmctl/vm/allocate.js";
import { dhcpPaths, type Lease, parseHostsFile, parseLeases } from "../../vmctl/vm/dhcp.js";
import { readLeases, setReservation } from "../../vmctl/vm/dhcp-server.js";
import { parseProcStat } from "../../vmctl/vm/host-files.js";
import { ip, run } from "./md-netns.js";
import { FabricLab } from "./netns-fabric.js";

export interface NsVm {
  name: string;
  ns: string;
  mac: string;
  ip: string;
}

/**
 * Namespace "VMs" on the fabric lab's host1 that get their address from vmctl's per-network
 * dnsmasq, created and deleted through the code vmctl's create and delete run for DHCP:
 * allocation that skips leased addresses, the port API, the locked reservation change. The
 * "VM" is a namespace with eth0 on a veth into host1; dhclient in it is the DHCP client.
 */
export class DhcpLab {
  readonly lab = new FabricLab();
  private ctx: FabricContext | undefined;
  private n = 0;
  private readonly names: string[] = [];

  get fabric(): FabricContext {
    if (!this.ctx) throw new Error("DhcpLab.up() first");
    return this.ctx;
  }

  get host(): HostSpec {
    return this.fabric.cluster.hosts[0] as HostSpec;
  }

  get net(): Network {
    return this.fabric.store.read().networks[0] as Network;
  }

  get paths() {
    return dhcpPaths(this.host, this.net);
  }

  /** `libvirt`: host1's libvirt URI (a TestLibvirtd's), for commands that list domains. */
  async up(libvirt = "qemu:///system"): Promise<void> {
    this.lab.create();
    // Every host's files inside the lab directory, never under /var/lib/vmctl (the lab's cluster
    // file has state-dir lines only with routing: bgp).
    let text = readFileSync(this.lab.clusterFile, "utf8");
    if (!text.includes("    state-dir: "))
      text = text.replace(/( {4}libvirt: \S+\n)/g, `$1    state-dir: ${this.lab.dir}/HOST\n`);
    let n = 0;
    text = text
      .replaceAll(`${this.lab.dir}/HOST`, () => `${this.lab.dir}/h${++n}`)
      .replace(/(-h1\n {4}libvirt: )\S+/, `$1${libvirt}`);
    writeFileSync(this.lab.clusterFile, text);
    this.ctx = {
      cluster: parseCluster(text, this.lab.clusterFile),
      store: new NetworkStore(this.lab.stateDir),
      runnerFor: (t) => new ExecRunner(t),
      onCommand: () => {},
    };
    for (const h of this.ctx.cluster.hosts) {
      if (!h.stateDir.startsWith(`${this.lab.dir}/`))
        throw new Error(`DhcpLab: ${h.name}'s state-dir ${h.stateDir} is outside the lab`);
    }
    await this.fabric.store.update(async (data) => {
      const net = defineNetwork(data, { name: "net1", subnet: "10.10.10.0/24" });
      return { data: { ...data, networks: [net] }, result: net };
    });
    await converge(this.fabric, { hosts: ["host1"], router: true });
  }

  async create(name: string): Promise<NsVm> {
    const n = ++this.n;
    const mac = `52:54:00:dc:${(n >> 8).toString(16).padStart(2, "0")}:${(n & 255).toString(16).padStart(2, "0")}`;
    const dev = `dv${n}`;
    const ns = `${this.lab.id}-${name}`;
    this.names.push(name);
    run("ip", ["netns", "add", ns]);
    run("ip", [
      "link",
      "add",
      dev,
      "netns",
      this.lab.hosts.host1,
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      ns,
    ]);
    ip(ns, "link", "set", "eth0", "address", mac);
    ip(ns, "link", "set", "eth0", "up");
    const hostRun = this.fabric.runnerFor(this.host.target);
    const leased = (await readLeases(hostRun, this.host, this.net)).map((l) => l.ip);
    for (const addr of freeAddresses(this.fabric.store.read(), this.net, leased)) {
      try {
        await attachPort(this.fabric, { network: "net1", host: "host1", ip: addr, dev, mac });
      } catch (err) {
        if (err instanceof AppError && err.code === "EXISTS") continue;
        throw err;
      }
      await setReservation(hostRun, this.host, this.net, { add: { mac, ip: addr, name } });
      return { name, ns, mac, ip: addr };
    }
    throw new Error("net1 is full");
  }

  /**
   * One dhclient run in the VM: the address it was given (its lease file's fixed-address), or
   * "" when no server answered within `timeoutS`.
   */
  async dhcp(vm: NsVm, timeoutS = 20): Promise<string> {
    const f = (ext: string) => join(this.lab.dir, `${vm.name}.dhclient.${ext}`);
    this.stopClient(vm.name);
    writeFileSync(f("conf"), `timeout ${timeoutS};\ninitial-interval 1;\n`);
    // -sf /bin/true: no script, so nothing on this machine (resolv.conf) is touched; only the
    // lease is wanted. -1: one attempt; once bound it forks to the background (killed by PID).
    const args = ["-4", "-1", "-sf", "/bin/true", "-cf", f("conf"), "-lf", f("lease")];
    // dhclient -1 exits 2 when no server answered in time.
    let started = 0;
    const code = await new Promise<number>((resolve, reject) => {
      const child = execFile(
        "ip",
        ["netns", "exec", vm.ns, "dhclient", ...args, "-pf", f("pid"), "eth0"],
        { timeout: (timeoutS + 30) * 1000 },
        (err, _out, stderr) => {
          const c = err ? err.code : 0;
          if (c === 0 || c === 2) resolve(c);
          else reject(new Error(`dhclient in ${vm.ns}: ${err?.message}\n${stderr}`));
        },
      );
      started = child.pid ?? 0;
    });
    // Bound, it forks and the child rewrites the pid file (ip netns exec execs dhclient, so the
    // first PID is ours): wait for the daemon's PID, or it could not be ended by PID later.
    const deadline = Date.now() + 5000;
    while (code === 0 && !this.daemonPid(vm.name, started)) {
      if (Date.now() > deadline) throw new Error(`dhclient in ${vm.ns}: no daemon pid file`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (code === 2) return "";
    const leases = existsSync(f("lease")) ? readFileSync(f("lease"), "utf8") : "";
    return /fixed-address ([0-9.]+);/.exec(leases)?.[1] ?? "";
  }

  async delete(vm: NsVm): Promise<void> {
    this.stopClient(vm.name);
    await detachPort(this.fabric, { network: "net1", ip: vm.ip });
    const hostRun = this.fabric.runnerFor(this.host.target);
    await setReservation(hostRun, this.host, this.net, { removeMac: vm.mac });
    run("ip", ["netns", "del", vm.ns]);
    this.names.splice(this.names.indexOf(vm.name), 1);
  }

  leases(): Lease[] {
    return existsSync(this.paths.leases)
      ? parseLeases(readFileSync(this.paths.leases, "utf8"))
      : [];
  }

  reservations() {
    return existsSync(this.paths.hosts)
      ? parseHostsFile(readFileSync(this.paths.hosts, "utf8"))
      : [];
  }

  /** The PID of net1's dnsmasq on host1 if it runs. */
  serverPid(): number | undefined {
    return livePid(this.paths.pid);
  }

  /** Ends what this lab started, by PID: the dhclients, dnsmasq; then the namespaces. */
  down(): void {
    for (const name of this.names) this.stopClient(name);
    const pid = this.ctx && this.serverPid();
    if (pid) process.kill(pid);
    for (const name of this.names) {
      try {
        run("ip", ["netns", "del", `${this.lab.id}-${name}`]);
      } catch {
        // never made
      }
    }
    this.lab.destroy();
  }

  private daemonPid(name: string, notPid: number): number | undefined {
    const pid = livePid(join(this.lab.dir, `${name}.dhclient.pid`));
    return pid !== notPid ? pid : undefined;
  }

  private stopClient(name: string): void {
    const pid = livePid(join(this.lab.dir, `${name}.dhclient.pid`));
    if (pid) process.kill(pid);
  }
}

/** The PID in `file` if it runs and is no zombie (this machine's init reaps daemons late). */
export function livePid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    return stat && stat.state !== "Z" ? pid : undefined;
  } catch {
    return undefined;
  }
}

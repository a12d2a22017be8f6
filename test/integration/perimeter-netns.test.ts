import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecRunner } from "../../lib/exec/runner.js";
import { parseCluster } from "../../vmctl/net/cluster.js";
import { NetworkStore } from "../../vmctl/net/network-store.js";
import { dhcpPaths } from "../../vmctl/vm/dhcp.js";
import { setReservation } from "../../vmctl/vm/dhcp-server.js";
import { inNs, ip, run } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { ping, udpSourceSeen } from "../helpers/netns-probes.js";
import { TcpListener, tcpConnect } from "../helpers/tcp-probes.js";

/**
 * Issue 8's host and router protection and perimeter firewall, attacked from namespace "VMs"
 * plugged in with `vmctl port attach`: a (net1, host1), b (net1, host2), c (net2, host2).
 * Services listen on 0.0.0.0 on host1, host2 and the router (port 2222, and 22 on host1 as
 * sshd would); the same attacks against the code before this protection succeeded
 * (docs/perimeter.md, "Findings").
 */
const lab = new FabricLab();
const H1 = lab.hosts.host1;
const H2 = lab.hosts.host2;
const VM = {
  a: { net: "net1", host: "host1", dev: "vpa", ip: "10.10.10.11", mac: "52:54:00:00:01:11" },
  b: { net: "net1", host: "host2", dev: "vpb", ip: "10.10.10.21", mac: "52:54:00:00:01:21" },
  c: { net: "net2", host: "host2", dev: "vpc", ip: "10.20.20.21", mac: "52:54:00:00:02:21" },
};
const ns: Record<string, string> = {};
const listeners: TcpListener[] = [];
const hostState = join(lab.dir, "host1");
const md = new MdserverProcess(lab.hosts.host1, join(lab.dir, "mdserver.conf"));
/** A "container" behind VM a, NATed by a (as docker would). */
const container = `${lab.id}-ctr`;
let foreignBefore: Record<string, string> = {};

const nftList = (n: string, family: string, table: string) =>
  inNs(n, "nft", ["list", "table", family, table]);
const foreign = () => ({
  h1: nftList(H1, "inet", "other"),
  rt: nftList(lab.router, "inet", "other"),
});

/** A foreign table on a machine: vmctl must leave it exactly as it is. */
function addForeignTable(n: string): void {
  inNs(n, "nft", ["add", "table", "inet", "other"]);
  inNs(n, "nft", ["add", "chain", "inet", "other", "c", "{ type filter hook input priority 10; }"]);
  inNs(n, "nft", ["add", "rule", "inet", "other", "c", "tcp dport 9 accept"]);
}

/** curl from a namespace: the body, or undefined when nothing came back in time. */
function curl(n: string, args: string[]): string | undefined {
  try {
    return inNs(n, "curl", ["-sf", "--max-time", "3", ...args], 20_000);
  } catch {
    return undefined;
  }
}
const TOKEN = ["-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60"];
const MD = "http://169.254.169.254/latest";

/** dhclient in a VM, once: the address dnsmasq leased it (its script changes nothing). */
function dhcpLease(vm: string): string {
  const dir = join(lab.dir, `dhcp-${vm}`);
  mkdirSync(dir, { recursive: true });
  const lf = join(dir, "lease");
  const args = ["-cf", "/dev/null", "-sf", "/bin/true", "-lf", lf, "-pf", join(dir, "pid"), "eth0"];
  inNs(from(vm as keyof typeof VM), "dhclient", ["-1", ...args], 30_000);
  inNs(from(vm as keyof typeof VM), "dhclient", ["-x", ...args], 30_000);
  return /fixed-address ([0-9.]+);/.exec(readFileSync(lf, "utf8"))?.[1] ?? "";
}

async function ok(args: string[]): Promise<string> {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const from = (vm: keyof typeof VM) => ns[vm] ?? "";

describe("host and router protection, perimeter firewall", () => {
  beforeAll(async () => {
    lab.create();
    addForeignTable(H1);
    addForeignTable(lab.router);
    foreignBefore = foreign();
    // What an older vmctl left on the router: its NAT in iptables with an ipset (migrated away).
    inNs(lab.router, "ipset", ["create", "vmctl-nets", "hash:net"]);
    inNs(lab.router, "ipset", ["add", "vmctl-nets", "10.10.10.0/24"]);
    inNs(lab.router, "iptables", [
      "-w",
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-o",
      "up0",
      "-m",
      "set",
      "--match-set",
      "vmctl-nets",
      "src",
      "-m",
      "set",
      "!",
      "--match-set",
      "vmctl-nets",
      "dst",
      "-m",
      "comment",
      "--comment",
      "vmctl",
      "-j",
      "MASQUERADE",
    ]);
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
    await ok(["net", "create", "net2", "--subnet", "10.20.20.0/24"]);
    await ok(["host", "apply"]);
    await ok(["router", "apply"]);
    for (const [name, v] of Object.entries(VM)) {
      const host = v.host === "host1" ? H1 : H2;
      const gw = v.net === "net1" ? "10.10.10.1" : "10.20.20.1";
      ns[name] = lab.addVm(name, host, v.dev, `${v.ip}/24`, gw, v.mac);
      await ok([
        "port",
        "attach",
        v.net,
        "--host",
        v.host,
        "--ip",
        v.ip,
        "--dev",
        v.dev,
        "--mac",
        v.mac,
      ]);
    }
    // The default security groups let in only their own network's VMs (docs/security-groups.md):
    // open them to each other's network, so that the router is all that stands between them.
    for (const [group, other] of [
      ["default-net1", "10.20.20.0/24"],
      ["default-net2", "10.10.10.0/24"],
    ] as const)
      await ok(["sg", "rule", "add", group, "--ingress", "--proto", "any", "--from", other]);
    for (const [n, addr, port] of [
      [H1, "0.0.0.0", 2222],
      [H1, "0.0.0.0", 22],
      [H2, "0.0.0.0", 2222],
      [lab.router, "0.0.0.0", 2222],
      [lab.internet, "0.0.0.0", 2222],
      [from("a"), "0.0.0.0", 2222],
      [from("b"), "0.0.0.0", 2222],
      [from("c"), "0.0.0.0", 5001],
      [from("c"), "0.0.0.0", 5002],
    ] as const) {
      const l = new TcpListener(n, addr, port);
      listeners.push(l);
      await l.start();
    }
    // mdserver for real in host1's namespace, knowing VM a.
    writeFileSync(join(lab.dir, "instances.yaml"), `instances:\n  - {name: vma, ip: ${VM.a.ip}}\n`);
    writeFileSync(
      join(lab.dir, "mdserver.conf"),
      `[mdserver]\nlibvirt = no\nstate-dir = ${lab.dir}/md-state\ninstances-file = ${lab.dir}/instances.yaml\n`,
    );
    await md.start();
    // The container: 172.31.0.2 behind VM a's masquerade.
    run("ip", ["netns", "add", container]);
    run("ip", [
      "link",
      "add",
      "ctr0",
      "netns",
      from("a"),
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      container,
    ]);
    ip(from("a"), "addr", "add", "172.31.0.1/24", "dev", "ctr0");
    ip(from("a"), "link", "set", "ctr0", "up");
    inNs(from("a"), "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    inNs(from("a"), "nft", [
      "add table ip ctrnat; add chain ip ctrnat post { type nat hook postrouting priority 100; }; add rule ip ctrnat post oifname eth0 masquerade",
    ]);
    ip(container, "link", "set", "lo", "up");
    ip(container, "addr", "add", "172.31.0.2/24", "dev", "eth0");
    ip(container, "link", "set", "eth0", "up");
    ip(container, "route", "add", "default", "via", "172.31.0.1");
    // vmctl's own DHCP server for net1 on host1, with a's reservation.
    const cluster = parseCluster(readFileSync(lab.clusterFile, "utf8"), lab.clusterFile);
    const host = { ...(cluster.hosts[0] as (typeof cluster.hosts)[0]), stateDir: hostState };
    const net = new NetworkStore(lab.stateDir).read().networks[0];
    if (!net) throw new Error("no network");
    void dhcpPaths(host, net);
    await setReservation(new ExecRunner({ kind: "netns", name: H1 }), host, net, {
      add: { mac: VM.a.mac, ip: VM.a.ip, name: "vma" },
    });
  }, 180_000);

  afterAll(async () => {
    for (const l of listeners) l.stop();
    await md.stop();
    const pidFile = join(hostState, "dhcp/net1.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8").trim()));
      } catch {
        // already gone
      }
    }
    try {
      run("ip", ["netns", "del", container]);
    } catch {
      // not made
    }
    lab.destroy();
  });

  it("removed the old iptables NAT rule and ipset on the first router apply, touching no other table", () => {
    expect(inNs(lab.router, "iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"])).not.toContain(
      "vmctl",
    );
    expect(inNs(lab.router, "ipset", ["list", "-n"])).not.toContain("vmctl-nets");
    expect(foreign()).toEqual(foreignBefore);
  });

  it("lets a VM use DHCP, metadata and ping its bridge address and gateway", () => {
    expect(dhcpLease("a")).toBe(VM.a.ip);
    expect(curl(from("a"), [`${MD}/meta-data/local-ipv4`])).toBe(VM.a.ip);
    expect(ping(from("a"), "10.10.10.2").ok).toBe(true);
    expect(ping(from("a"), "10.10.10.1").ok).toBe(true);
    // Not another network's bridge address or gateway.
    expect(ping(from("a"), "10.20.20.2").ok).toBe(false);
    expect(ping(from("a"), "10.20.20.1").ok).toBe(false);
  });

  it("gives a token to the VM but not to a container NATed behind it (token-hop-limit 1)", async () => {
    expect(curl(from("a"), [...TOKEN, `${MD}/api/token`])?.length).toBeGreaterThan(20);
    // The container reaches mdserver through the VM's NAT (a GET answers)...
    expect(curl(container, [`${MD}/meta-data/local-ipv4`])).toBe(VM.a.ip);
    // ...but the token's answer leaves the host with TTL 1 and dies in the VM's forwarding.
    expect(curl(container, [...TOKEN, `${MD}/api/token`])).toBeUndefined();
    // With token-hop-limit 2 in the cluster file it reaches the container.
    const text = readFileSync(lab.clusterFile, "utf8");
    writeFileSync(lab.clusterFile, `token-hop-limit: 2\n${text}`);
    try {
      await ok(["host", "apply", "host1"]);
      expect(curl(container, [...TOKEN, `${MD}/api/token`])?.length).toBeGreaterThan(20);
    } finally {
      writeFileSync(lab.clusterFile, text);
      await ok(["host", "apply", "host1"]);
    }
    expect(curl(container, [...TOKEN, `${MD}/api/token`])).toBeUndefined();
  }, 120_000);

  it("lets a VM reach nothing on its host but what it needs", async () => {
    const probes = {
      bridge: await tcpConnect(from("a"), "10.10.10.2", 2222),
      otherBridge: await tcpConnect(from("a"), "10.20.20.2", 2222),
      lan: await tcpConnect(from("a"), "198.18.0.11", 2222),
      metadata22: await tcpConnect(from("a"), "169.254.169.254", 22),
      metadata2222: await tcpConnect(from("a"), "169.254.169.254", 2222),
    };
    console.log("host", JSON.stringify(probes));
    expect(Object.values(probes).map((p) => p.ok)).toEqual([false, false, false, false, false]);
  });

  it("lets a VM reach nothing on the router or other hosts", async () => {
    const probes = {
      gateway: await tcpConnect(from("a"), "10.10.10.1", 2222),
      otherGateway: await tcpConnect(from("a"), "10.20.20.1", 2222),
      routerLan: await tcpConnect(from("a"), "198.18.0.1", 2222),
      routerUplink: await tcpConnect(from("a"), "198.19.0.1", 2222),
      host2Lan: await tcpConnect(from("a"), "198.18.0.12", 2222),
    };
    console.log("router", JSON.stringify(probes));
    expect(Object.values(probes).map((p) => p.ok)).toEqual([false, false, false, false, false]);
  });

  it("keeps networks apart without a rule", async () => {
    const probes = {
      net1to2: await tcpConnect(from("a"), VM.c.ip, 5001),
      net2to1: await tcpConnect(from("c"), VM.a.ip, 2222),
    };
    console.log("cross", JSON.stringify(probes));
    expect(Object.values(probes).map((p) => p.ok)).toEqual([false, false]);
  });

  it("keeps the network itself working: same network both hosts, gateway, bridge, internet, host to VM", async () => {
    expect((await tcpConnect(from("a"), VM.b.ip, 2222)).out).toBe(`hello ${VM.a.ip}`);
    expect((await tcpConnect(from("b"), VM.a.ip, 2222)).out).toBe(`hello ${VM.b.ip}`);
    expect(ping(from("a"), "10.10.10.1").ok).toBe(true);
    expect(ping(from("a"), "10.10.10.2").ok).toBe(true);
    expect(await udpSourceSeen(lab.internet, "0.0.0.0", from("a"), "198.19.0.2")).toBe(
      "198.19.0.1",
    );
    expect((await tcpConnect(H1, VM.a.ip, 2222)).out).toBe("hello 10.10.10.2");
    expect((await tcpConnect(H1, VM.b.ip, 2222)).ok).toBe(true);
    expect((await tcpConnect(H2, VM.a.ip, 2222)).ok).toBe(true);
  });

  it("opens one port from net1 to net2 with fw allow: stateful, other ports and the way back still closed", async () => {
    await ok(["fw", "allow", "net1", "net2", "--proto", "tcp", "--port", "5001"]);
    const show = await ok(["net", "show", "net2"]);
    expect(show).toContain("[ ] fw #1 allow net1 -> net2 tcp port 5001");
    const dry = await ok(["--dry-run", "router", "apply"]);
    expect(dry).toContain(
      `[netns:${lab.router}] nft -f - <<'EOF'\ntable ip vmctl_router\ndelete table ip vmctl_router\n`,
    );
    expect(dry).toContain(
      "ip saddr 10.10.10.0/24 ip daddr 10.20.20.0/24 meta l4proto tcp tcp dport 5001 accept comment",
    );
    expect((await tcpConnect(from("a"), VM.c.ip, 5001)).ok).toBe(false);
    await ok(["router", "apply"]);
    expect(await ok(["net", "show", "net2"])).toContain(
      "[x] fw #1 allow net1 -> net2 tcp port 5001",
    );
    // The whole exchange (SYN, SYN-ACK, data both ways), with the VM's own address.
    expect((await tcpConnect(from("a"), VM.c.ip, 5001)).out).toBe(`hello ${VM.a.ip}`);
    expect((await tcpConnect(from("a"), VM.c.ip, 5002)).ok).toBe(false);
    expect((await tcpConnect(from("c"), VM.a.ip, 2222)).ok).toBe(false);
    expect(await ok(["fw", "list"])).toBe(
      "1. #1 allow net1 -> net2 tcp port 5001\n2. deny everything else between networks (internet egress per network)\n",
    );
    await ok(["fw", "del", "1"]);
    await ok(["router", "apply"]);
    expect((await tcpConnect(from("a"), VM.c.ip, 5001)).ok).toBe(false);
  });

  it("opens a port towards an IP group's addresses, and follows the group by its set's elements", async () => {
    await ok(["ipg", "create", "db", VM.c.ip]);
    await ok(["fw", "allow", "net1", "ipg:db", "--proto", "tcp", "--port", "5001"]);
    await ok(["router", "apply"]);
    expect((await tcpConnect(from("a"), VM.c.ip, 5001)).out).toBe(`hello ${VM.a.ip}`);
    expect((await tcpConnect(from("a"), VM.c.ip, 5002)).ok).toBe(false);
    expect(await ok(["ipg", "del", "db", VM.c.ip])).toBe(
      `removed ${VM.c.ip} from IP group db; now run: vmctl router apply\n`,
    );
    // The group's change is one element deletion, not a new table.
    const dry = await ok(["--dry-run", "router", "apply"]);
    expect(dry).toContain(`delete element ip vmctl_router i_db { ${VM.c.ip} }`);
    expect(dry).not.toContain("delete table");
    await ok(["router", "apply"]);
    expect((await tcpConnect(from("a"), VM.c.ip, 5001)).ok).toBe(false);
    const del = await vmctl(lab, ["ipg", "delete", "db"]);
    expect(del.code).toBe(1);
    expect(del.stderr).toBe(
      "vmctl: IP group db is used by perimeter rule #1; remove those rules first\n",
    );
    await ok(["fw", "del", "1"]);
    await ok(["ipg", "delete", "db"]);
    await ok(["router", "apply"]);
  });

  it("switches a network's internet egress off and on", async () => {
    await ok(["net", "update", "net1", "--no-internet"]);
    await ok(["router", "apply"]);
    expect((await tcpConnect(from("a"), "198.19.0.2", 2222)).ok).toBe(false);
    expect((await tcpConnect(from("c"), "198.19.0.2", 2222)).out).toBe("hello 198.19.0.1");
    // Its own network across hosts still works.
    expect((await tcpConnect(from("a"), VM.b.ip, 2222)).out).toBe(`hello ${VM.a.ip}`);
    await ok(["net", "update", "net1", "--internet"]);
    await ok(["router", "apply"]);
    expect((await tcpConnect(from("a"), "198.19.0.2", 2222)).out).toBe("hello 198.19.0.1");
  });

  it("changes nothing on a second apply, repairs drift, leaves other tables alone", async () => {
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
    expect(await ok(["router", "apply"])).toBe("router: up to date\n");
    inNs(H1, "nft", ["flush", "chain", "inet", "vmctl_host", "from_vm"]);
    inNs(lab.router, "nft", [
      "delete",
      "element",
      "ip",
      "vmctl_router",
      "nets",
      "{ 10.20.20.0/24 }",
    ]);
    expect((await tcpConnect(from("a"), "10.10.10.2", 2222)).ok).toBe(true);
    expect(await ok(["net", "show", "net2"])).toContain("[ ] net2 isolated");
    // Each changed machine prints its commands, then its summary.
    expect(await ok(["host", "apply"])).toMatch(
      /^host1: nft -f -\nhost1: 1 command\(s\) applied\nhost2: up to date\n$/,
    );
    expect(await ok(["router", "apply"])).toBe("router: nft -f -\nrouter: 1 command(s) applied\n");
    expect((await tcpConnect(from("a"), "10.10.10.2", 2222)).ok).toBe(false);
    expect((await tcpConnect(from("c"), VM.a.ip, 2222)).ok).toBe(false);
    expect(foreign()).toEqual(foreignBefore);
  });
});

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecRunner } from "../../lib/exec/runner.js";
import { parseCluster } from "../../vmctl/net/cluster.js";
import { bridgeMac } from "../../vmctl/net/names.js";
import { NetworkStore } from "../../vmctl/net/network-store.js";
import type { DropReason } from "../../vmctl/net/port-security-rules.js";
import { dhcpPaths } from "../../vmctl/vm/dhcp.js";
import { setReservation } from "../../vmctl/vm/dhcp-server.js";
import { framesSeen, sendFrames } from "../helpers/frames.js";
import { inNs, ip } from "../helpers/md-netns.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { ping, portSecurityDrops } from "../helpers/netns-probes.js";

/**
 * Issue 8's attacks, made from a namespace "VM" plugged in with `vmctl port attach` (the same
 * code path `vmctl create` and `vmctl start` use), against a victim and a neighbour on the same
 * host and vmctl's own dnsmasq. Each attack must fail and be counted at the attacker's port;
 * the victim must be unharmed. The same attacks against the old code succeed: docs/port-security.md.
 */
const lab = new FabricLab();
const H1 = lab.hosts.host1;
const hostState = join(lab.dir, "host1");
const VM = {
  victim: { dev: "vmv", ip: "10.10.10.11", mac: "52:54:00:00:00:11" },
  attacker: { dev: "vma", ip: "10.10.10.12", mac: "52:54:00:00:00:12" },
  neighbour: { dev: "vmn", ip: "10.10.10.13", mac: "52:54:00:00:00:13" },
  remote: { dev: "vmr", ip: "10.10.10.21", mac: "52:54:00:00:00:21" },
};
const ns: Record<string, string> = {};
const BRIDGE_IP = "10.10.10.2";
let dhcpLog = "";
let foreignBefore = "";

async function ok(args: string[]): Promise<string> {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const drops = (reason: DropReason) => portSecurityDrops(H1, reason);

async function counted<T>(reason: DropReason, attack: () => Promise<T> | T) {
  const before = drops(reason);
  const result = await attack();
  return { result, dropped: drops(reason) - before };
}

/** dhclient in the victim, once: the address dnsmasq leased it (its script changes nothing). */
function dhcpLease(vm: string): string {
  const dir = join(lab.dir, vm);
  inNs(ns[vm] ?? "", "mkdir", ["-p", dir]);
  const lf = join(dir, "lease");
  inNs(
    ns[vm] ?? "",
    "dhclient",
    ["-1", "-cf", "/dev/null", "-sf", "/bin/true", "-lf", lf, "-pf", join(dir, "pid"), "eth0"],
    30_000,
  );
  inNs(
    ns[vm] ?? "",
    "dhclient",
    ["-x", "-cf", "/dev/null", "-sf", "/bin/true", "-lf", lf, "-pf", join(dir, "pid"), "eth0"],
    30_000,
  );
  return /fixed-address ([0-9.]+);/.exec(readFileSync(lf, "utf8"))?.[1] ?? "";
}

const bridgeFdb = () =>
  JSON.parse(inNs(H1, "bridge", ["-json", "fdb", "show", "br", "br-net1"])) as {
    mac: string;
    ifname: string;
  }[];

describe("port security against a VM attacking its neighbours", () => {
  beforeAll(async () => {
    lab.create();
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
    await ok(["host", "apply"]);
    await ok(["router", "apply"]);
    // A table vmctl did not make, in the same family and hook: it must stay exactly as it is.
    inNs(H1, "nft", ["add", "table", "bridge", "other"]);
    inNs(H1, "nft", [
      "add",
      "chain",
      "bridge",
      "other",
      "c",
      "{ type filter hook prerouting priority 0; }",
    ]);
    inNs(H1, "nft", ["add", "rule", "bridge", "other", "c", "ether type ip6 accept"]);
    foreignBefore = inNs(H1, "nft", ["list", "table", "bridge", "other"]);
    for (const [name, v] of Object.entries(VM)) {
      const host = name === "remote" ? lab.hosts.host2 : H1;
      ns[name] = lab.addVm(name, host, v.dev, `${v.ip}/24`, "10.10.10.1", v.mac);
      const on = name === "remote" ? "host2" : "host1";
      await ok([
        "port",
        "attach",
        "net1",
        "--host",
        on,
        "--ip",
        v.ip,
        "--dev",
        v.dev,
        "--mac",
        v.mac,
      ]);
    }
    // vmctl's own DHCP server for net1 on host1, with the victim's reservation.
    const cluster = parseCluster(readFileSync(lab.clusterFile, "utf8"), lab.clusterFile);
    const host = { ...(cluster.hosts[0] as (typeof cluster.hosts)[0]), stateDir: hostState };
    const net = new NetworkStore(lab.stateDir).read().networks[0];
    if (!net) throw new Error("no network");
    dhcpLog = dhcpPaths(host, net).log;
    await setReservation(new ExecRunner({ kind: "netns", name: H1 }), host, net, {
      add: { mac: VM.victim.mac, ip: VM.victim.ip, name: "victim" },
    });
  }, 120_000);

  afterAll(() => {
    const pidFile = join(hostState, "dhcp/net1.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8").trim()));
      } catch {
        // already gone
      }
    }
    lab.destroy();
  });

  it("lets legitimate traffic through: ping same host and across hosts, ARP, DHCP of its own MAC", () => {
    expect(ping(ns.neighbour ?? "", VM.victim.ip).ok).toBe(true);
    expect(ping(ns.victim ?? "", VM.remote.ip).ok).toBe(true);
    expect(ping(ns.victim ?? "", BRIDGE_IP).ok).toBe(true);
    expect(ip(ns.neighbour ?? "", "neigh", "show", VM.victim.ip)).toContain(VM.victim.mac);
    expect(dhcpLease("victim")).toBe(VM.victim.ip);
  });

  it("keeps the victim's traffic from an attacker sending the victim's source MAC (FDB poisoning)", async () => {
    const { result, dropped } = await counted("spoofed_mac", () =>
      framesSeen(ns.attacker ?? "", 4, { dst: VM.victim.mac }, async () => {
        for (let i = 0; i < 5; i++) {
          // Frames from the victim's MAC, as often as the host talks to the victim.
          sendFrames(ns.attacker ?? "", "udp", {
            src: VM.victim.mac,
            ip: VM.attacker.ip,
            to: BRIDGE_IP,
            count: 20,
          });
          const p = ping(H1, VM.victim.ip);
          expect(p.ok, p.out).toBe(true);
        }
      }),
    );
    expect(result).toBe(0);
    expect(dropped).toBe(100);
    const victim = bridgeFdb().filter((e) => e.mac === VM.victim.mac);
    expect(victim.map((e) => e.ifname)).toEqual([VM.victim.dev]);
  }, 60_000);

  it("does not let random source MACs grow the bridge's FDB", async () => {
    const before = bridgeFdb().length;
    const { dropped } = await counted("spoofed_mac", () =>
      sendFrames(ns.attacker ?? "", "udp", {
        src: "random",
        ip: VM.attacker.ip,
        to: BRIDGE_IP,
        count: 2000,
      }),
    );
    expect(dropped).toBe(2000);
    expect(bridgeFdb().length).toBe(before);
  });

  it("drops forged DHCPDECLINE, RELEASE and REQUEST carrying the victim's MAC as chaddr", async () => {
    const forged = (msg: string, extra: Record<string, string>) =>
      counted("dhcp_forged", () =>
        sendFrames(ns.attacker ?? "", "dhcp", {
          src: VM.attacker.mac,
          msg,
          chaddr: VM.victim.mac,
          ...extra,
        }),
      );
    const decline = await forged("decline", { requested: VM.victim.ip, server: BRIDGE_IP });
    const release = await forged("release", {
      ip: VM.attacker.ip,
      to: BRIDGE_IP,
      dst: bridgeMac("net1"),
      ciaddr: VM.victim.ip,
      server: BRIDGE_IP,
    });
    const request = await forged("request", { requested: VM.victim.ip, server: BRIDGE_IP });
    expect([decline.dropped, release.dropped, request.dropped]).toEqual([1, 1, 1]);
    await new Promise((r) => setTimeout(r, 500));
    // dnsmasq never heard of them: no reservation disabled, the victim's lease still there.
    const log = readFileSync(dhcpLog, "utf8");
    expect(log).not.toContain("disabling DHCP static address");
    expect(log).not.toMatch(/DHCP(DECLINE|RELEASE)/);
    expect(readFileSync(join(hostState, "dhcp/net1.leases"), "utf8")).toContain(VM.victim.mac);
    expect(dhcpLease("victim")).toBe(VM.victim.ip);
  }, 60_000);

  it("never lets a rogue DHCP OFFER or ACK from a port reach a neighbour", async () => {
    const { result, dropped } = await counted("dhcp_server", () =>
      framesSeen(ns.neighbour ?? "", 2, { src: VM.attacker.mac, sport: 67 }, () => {
        for (const msg of ["offer", "ack"])
          sendFrames(ns.attacker ?? "", "dhcp", {
            src: VM.attacker.mac,
            ip: VM.attacker.ip,
            msg,
            chaddr: VM.neighbour.mac,
            yiaddr: VM.neighbour.ip,
            server: VM.attacker.ip,
            count: 3,
          });
      }),
    );
    expect(result).toBe(0);
    expect(dropped).toBe(6);
  });

  it("drops ARP and gratuitous ARP claiming the gateway, the bridge or a neighbour's address", async () => {
    expect(ping(ns.neighbour ?? "", BRIDGE_IP).ok).toBe(true);
    expect(ping(ns.neighbour ?? "", "10.10.10.1").ok).toBe(true);
    expect(ping(H1, VM.victim.ip).ok).toBe(true);
    const entry = (where: string, addr: string) => ip(where, "neigh", "show", addr);
    const before = [entry(ns.neighbour ?? "", BRIDGE_IP), entry(ns.neighbour ?? "", "10.10.10.1")];
    const { dropped } = await counted("spoofed_arp", () => {
      for (const spa of [BRIDGE_IP, "10.10.10.1", VM.victim.ip]) {
        sendFrames(ns.attacker ?? "", "arp", { src: VM.attacker.mac, spa, count: 2 });
        sendFrames(ns.attacker ?? "", "arp", {
          src: VM.attacker.mac,
          spa,
          op: "reply",
          tpa: VM.neighbour.ip,
          dst: VM.neighbour.mac,
        });
      }
    });
    expect(dropped).toBe(9);
    for (const e of [...before, entry(H1, VM.victim.ip)]) expect(e).not.toContain(VM.attacker.mac);
    expect(entry(H1, VM.victim.ip)).toContain(VM.victim.mac);
  });

  it("drops IPv4 from another address, frames from another MAC, and IPv6", async () => {
    const seen = (src: string, ipSrc: string, sport: number, reason: DropReason) =>
      counted(reason, () =>
        framesSeen(ns.neighbour ?? "", 1.5, { sport }, () =>
          sendFrames(ns.attacker ?? "", "udp", {
            src,
            ip: ipSrc,
            to: VM.neighbour.ip,
            dst: VM.neighbour.mac,
            sport,
            count: 5,
          }),
        ),
      );
    expect(await seen(VM.attacker.mac, VM.victim.ip, 40101, "spoofed_ip")).toEqual({
      result: 0,
      dropped: 5,
    });
    expect(await seen("52:54:00:00:00:99", VM.attacker.ip, 40102, "spoofed_mac")).toEqual({
      result: 0,
      dropped: 5,
    });
    // The control: the attacker's own MAC and address do get through.
    expect(await seen(VM.attacker.mac, VM.attacker.ip, 40103, "spoofed_ip")).toEqual({
      result: 5,
      dropped: 0,
    });
    const v6 = await counted("other_proto", () =>
      sendFrames(ns.attacker ?? "", "ipv6", { src: VM.attacker.mac, count: 3 }),
    );
    expect(v6.dropped).toBeGreaterThanOrEqual(3);
  });

  it("applies again without changes, and host apply repairs drift with exactly the missing commands", async () => {
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
    inNs(H1, "nft", [
      "delete",
      "element",
      "bridge",
      "vmctl_portsec",
      "port_ip",
      `{ "vmv" . ${VM.victim.ip} }`,
    ]);
    ip(H1, "link", "set", "dev", "vmn", "type", "bridge_slave", "learning", "on");
    expect(await ok(["--dry-run", "host", "apply", "host1"])).toBe(
      [
        `[netns:${H1}] nft -f - <<'EOF'`,
        `add element bridge vmctl_portsec port_ip { "vmv" . ${VM.victim.ip} }`,
        "EOF",
        `[netns:${H1}] ip link set dev vmn type bridge_slave learning off flood off`,
        "host1: 2 command(s) would run",
        "",
      ].join("\n"),
    );
    expect(await ok(["host", "apply", "host1"])).toMatch(/\nhost1: 2 command\(s\) applied\n$/);
    // A damaged rule set is replaced whole, in one transaction, elements included.
    inNs(H1, "nft", ["flush", "chain", "bridge", "vmctl_portsec", "arp_check"]);
    expect(await ok(["net", "show", "net1"])).toContain("[ ] nft table bridge vmctl_portsec");
    expect(await ok(["host", "apply", "host1"])).toBe(
      "host1: nft -f -\nhost1: 1 command(s) applied\n",
    );
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
    expect(await ok(["net", "show", "net1"])).not.toContain("[ ]");
    expect(ping(ns.neighbour ?? "", VM.victim.ip).ok).toBe(true);
    expect(inNs(H1, "nft", ["list", "table", "bridge", "other"])).toBe(foreignBefore);
  });

  it("detaching a port removes its elements; deleting the network removes the table", async () => {
    await ok(["port", "detach", "net1", "--ip", VM.attacker.ip]);
    const macs = inNs(H1, "nft", ["list", "set", "bridge", "vmctl_portsec", "port_mac"]);
    expect(macs).not.toContain(VM.attacker.mac);
    expect(macs).toContain(VM.victim.mac);
    await ok(["net", "delete", "net1", "--force"]);
    await ok(["host", "apply"]);
    expect(inNs(H1, "nft", ["list", "tables"])).toBe("table bridge other\n");
    expect(inNs(H1, "nft", ["list", "table", "bridge", "other"])).toBe(foreignBefore);
  });
});

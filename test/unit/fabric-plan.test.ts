import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatCommand } from "../../lib/exec/command.js";
import type { HostSpec, RouterSpec } from "../../vmctl/net/cluster.js";
import { type HostDesired, hostSysctlKeys, planHost } from "../../vmctl/net/host-plan.js";
import {
  type MachineState,
  parseAddrs,
  parseIpsetSave,
  parseIptablesS,
  parseLinks,
  parseRoutes,
  parseRules,
  parseSysctl,
} from "../../vmctl/net/machine-state.js";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";
import type { Step } from "../../vmctl/net/plan-items.js";
import { planRouter, type RouterDesired, routerSysctlKeys } from "../../vmctl/net/router-plan.js";
import { testHost, testRouter } from "../helpers/hosts.js";

const fixture = (f: string) =>
  readFileSync(new URL(`../fixtures/fabric/${f}`, import.meta.url), "utf8");

/** A machine with a converged net1 plus foreign routes, rules, ipsets and NAT rules. */
const captured = (): MachineState => ({
  links: parseLinks(fixture("ip-link.json")),
  addrs: parseAddrs(fixture("ip-addr.json")),
  routes: parseRoutes(fixture("ip-route.json")),
  rules: parseRules(fixture("ip-rule.json")),
  sysctls: parseSysctl(fixture("sysctl.txt")),
  ipsets: parseIpsetSave(fixture("ipset-save.txt")),
  natRules: parseIptablesS(fixture("iptables-nat-postrouting.txt")),
});

const EMPTY: MachineState = {
  links: [],
  addrs: [],
  routes: [],
  rules: [],
  sysctls: {},
  ipsets: {},
  natRules: [],
};

const store = structuredClone(EMPTY_STORE);
const net1 = defineNetwork(store, { name: "net1", subnet: "10.10.10.0/24" });
const host: HostSpec = testHost();
const router: RouterSpec = testRouter();
const port = {
  network: "net1",
  host: "host1",
  ip: "10.10.10.11",
  dev: "vm1",
  mac: "52:54:00:00:00:01",
};
const hostD: HostDesired = {
  host,
  routerAddresses: ["198.18.0.1"],
  networks: [net1],
  ports: [port],
};
const routerD: RouterDesired = {
  router,
  networks: [net1],
  ports: [{ ...port, hostAddress: "198.18.0.11" }],
};

const lines = (steps: Step[]) => steps.map((s) => formatCommand(s.command));

/** What `sysctl` would show after the plan ran. */
function afterSysctls(steps: Step[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of steps)
    if (s.command.file === "sysctl") {
      const [k, v] = (s.command.args[1] ?? "").split("=");
      out[k ?? ""] = v ?? "";
    }
  return out;
}

describe("parsers (captured iproute2 6.1 / ipset / iptables-nft output)", () => {
  it("reads links with alias and kind, IPv4 addresses with labels", () => {
    const s = captured();
    expect(s.links.find((l) => l.name === "br-net1")).toEqual({
      name: "br-net1",
      mac: "02:16:94:33:ed:92",
      alias: "vmctl",
      up: true,
      kind: "bridge",
    });
    expect(s.addrs).toContainEqual({ dev: "lo", cidr: "10.10.10.1/32", label: "lo:vmctl" });
    expect(s.addrs).toContainEqual({
      dev: "br-net1",
      cidr: "169.254.169.254/32",
      label: "br-net1",
    });
  });

  it("reads numeric route types, tables and protocols, host routes as /32", () => {
    const r = captured().routes;
    expect(r).toContainEqual(
      expect.objectContaining({
        table: 101,
        type: "unicast",
        dst: "10.10.10.11/32",
        proto: 77,
        dev: "br-net1",
      }),
    );
    expect(r).toContainEqual(
      expect.objectContaining({ table: 254, type: "unreachable", dst: "10.20.20.0/24", proto: 77 }),
    );
    expect(r).toContainEqual(
      expect.objectContaining({ table: 101, dst: "192.0.2.0/24", proto: 0, gateway: "198.18.0.1" }),
    );
  });

  it("reads rules, sysctls (absent keys left out), ipset members and NAT rules", () => {
    const s = captured();
    expect(s.rules).toContainEqual({
      pref: 1000,
      iif: "br-net1",
      dst: undefined,
      table: 101,
      proto: 77,
    });
    expect(s.rules).toContainEqual({
      pref: 1200,
      iif: "lo",
      dst: "10.10.10.0/24",
      table: 101,
      proto: 77,
    });
    expect(s.sysctls["net.ipv4.neigh.br-net1.proxy_delay"]).toBe("80");
    expect("net.ipv4.conf.br-gone.proxy_arp" in s.sysctls).toBe(false);
    expect(s.ipsets).toEqual({ "vmctl-nets": ["10.10.10.0/24"], other: ["192.0.2.9/32"] });
    expect(s.natRules).toHaveLength(2);
  });
});

describe("host planner", () => {
  it("configures a fresh host completely, the /32 of each local VM included", () => {
    expect(lines(planHost(hostD, EMPTY).steps)).toEqual([
      "sysctl -w net.ipv4.ip_forward=1",
      "sysctl -w net.ipv4.conf.all.rp_filter=2",
      "sysctl -w net.ipv4.conf.default.rp_filter=2",
      "sysctl -w net.ipv4.conf.eth0.rp_filter=2",
      "sysctl -w net.ipv4.conf.all.send_redirects=0",
      "sysctl -w net.ipv4.conf.default.send_redirects=0",
      "sysctl -w net.ipv4.conf.eth0.send_redirects=0",
      "sysctl -w net.ipv4.conf.eth0.arp_ignore=1",
      "sysctl -w net.ipv4.conf.eth0.arp_announce=2",
      "ip link add br-net1 type bridge",
      "ip link set dev br-net1 address 02:16:94:33:ed:92 alias vmctl up",
      "sysctl -w net.ipv4.conf.br-net1.proxy_arp=1",
      "sysctl -w net.ipv4.neigh.br-net1.proxy_delay=0",
      "sysctl -w net.ipv4.conf.br-net1.send_redirects=0",
      "ip addr replace 10.10.10.2/24 dev br-net1",
      "ip addr replace 169.254.169.254/32 dev br-net1",
      "ip route replace 10.10.10.0/24 via 198.18.0.1 dev eth0 table 101 proto 77",
      "ip route replace default via 198.18.0.1 dev eth0 table 101 proto 77",
      "ip route replace 10.10.10.11 dev br-net1 table 101 proto 77 scope link",
      "ip rule add pref 1000 iif br-net1 lookup 101 protocol 77",
      "ip rule add pref 1200 to 10.10.10.0/24 iif lo lookup 101 protocol 77",
    ]);
  });

  it("with two routers sends the network's traffic to both over one ECMP route, and sees it in place", () => {
    const two = { ...hostD, routerAddresses: ["198.18.0.1", "198.18.0.2"] };
    const steps = lines(planHost(two, EMPTY).steps);
    expect(steps).toContain(
      "ip route replace 10.10.10.0/24 table 101 proto 77 nexthop via 198.18.0.1 dev eth0 nexthop via 198.18.0.2 dev eth0",
    );
    expect(steps).toContain(
      "ip route replace default table 101 proto 77 nexthop via 198.18.0.1 dev eth0 nexthop via 198.18.0.2 dev eth0",
    );
    // What `ip -N -json route show table all` prints for them (captured, iproute2 6.1).
    const ecmp = (dst: string) =>
      `{"dst":"${dst}","table":"101","protocol":"77","flags":[],"nexthops":[{"gateway":"198.18.0.1","dev":"eth0","weight":1,"flags":[]},{"gateway":"198.18.0.2","dev":"eth0","weight":1,"flags":[]}]}`;
    const routes = parseRoutes(`[${ecmp("10.10.10.0/24")},${ecmp("default")}]`);
    const after = lines(planHost(two, { ...EMPTY, routes }).steps);
    expect(after.filter((l) => l.includes("nexthop"))).toEqual([]);
    // One router gone from the list: the route is replaced, not left as it was.
    const one = lines(planHost(hostD, { ...EMPTY, routes }).steps);
    expect(one).toContain("ip route replace default via 198.18.0.1 dev eth0 table 101 proto 77");
  });

  it("plans nothing once everything is in place", () => {
    const cur = captured();
    cur.sysctls = { ...cur.sysctls, ...afterSysctls(planHost(hostD, cur).steps) };
    const ours = cur.routes.filter((r) => r.table !== 254 || r.proto !== 77);
    expect(lines(planHost(hostD, { ...cur, routes: ours }).steps)).toEqual([]);
  });

  it("puts back only what is missing (a deleted rule)", () => {
    const cur = captured();
    cur.sysctls = { ...cur.sysctls, ...afterSysctls(planHost(hostD, cur).steps) };
    cur.routes = cur.routes.filter((r) => r.table !== 254 || r.proto !== 77);
    cur.rules = cur.rules.filter((r) => r.pref !== 1000);
    expect(lines(planHost(hostD, cur).steps)).toEqual([
      "ip rule add pref 1000 iif br-net1 lookup 101 protocol 77",
    ]);
  });

  it("removes exactly what vmctl added when the network is gone, nothing foreign", () => {
    expect(lines(planHost({ ...hostD, networks: [], ports: [] }, captured()).steps)).toEqual([
      "ip rule del pref 1000 iif br-net1 lookup 101 protocol 77",
      "ip rule del pref 1200 to 10.10.10.0/24 iif lo lookup 101 protocol 77",
      "ip route del default table 101 proto 77",
      "ip route del 10.10.10.0/24 table 101 proto 77",
      "ip route del 10.10.10.11 table 101 proto 77",
      "ip route del unreachable 10.20.20.0/24 proto 77",
      "ip link del br-net1",
    ]);
  });

  it("refuses to take over a bridge vmctl did not create", () => {
    const cur = captured();
    cur.links = cur.links.map((l) => ({ ...l, alias: undefined }));
    expect(() => planHost(hostD, cur).steps).toThrow(
      "host1: br-net1 exists and was not made by vmctl",
    );
  });

  it("writes a VLAN interface's sysctl keys with / as sysctl expects", () => {
    const vlan = { ...hostD, host: { ...host, lan: "bond0.100" } };
    expect(lines(planHost(vlan, EMPTY).steps)).toContain(
      "sysctl -w net.ipv4.conf.bond0/100.rp_filter=2",
    );
    expect(hostSysctlKeys(vlan)).toContain("net.ipv4.conf.bond0/100.arp_ignore");
    expect(parseSysctl("net.ipv4.conf.bond0/100.arp_ignore = 1\n")).toEqual({
      "net.ipv4.conf.bond0/100.arp_ignore": "1",
    });
  });

  it("gives every added item an undo for rollback", () => {
    const undos = planHost(hostD, EMPTY).steps.map((s) =>
      s.undo ? formatCommand(s.undo) : undefined,
    );
    expect(undos).toContain("ip link del br-net1");
    expect(undos).toContain("ip rule del pref 1000 iif br-net1 lookup 101 protocol 77");
    expect(undos).toContain("ip route del 10.10.10.11 dev br-net1 table 101 proto 77 scope link");
  });
});

describe("one plan per machine", () => {
  it("returns every item and the steps of the absent ones, with each sysctl key to read", () => {
    const p = planHost(hostD, EMPTY);
    expect(p.items.every((i) => !i.present)).toBe(true);
    expect(lines(p.steps)).toEqual(p.items.map((i) => formatCommand(i.command)));
    const sysctlKeys = Object.keys(afterSysctls(p.steps));
    expect(hostSysctlKeys(hostD).sort()).toEqual(sysctlKeys.sort());
    expect(routerSysctlKeys(routerD).sort()).toEqual(
      Object.keys(afterSysctls(planRouter(routerD, EMPTY).steps)).sort(),
    );
  });

  it("lists the items in place too (net show), planning no step for them", () => {
    const p = planRouter(routerD, { ...EMPTY, sysctls: { "net.ipv4.ip_forward": "1" } });
    expect(p.items.find((i) => i.what === "sysctl net.ipv4.ip_forward=1")?.present).toBe(true);
    expect(lines(p.steps)).not.toContain("sysctl -w net.ipv4.ip_forward=1");
  });
});

describe("router planner", () => {
  it("configures a fresh router: gateways, unreachables, /32s (NAT is its nft table's)", () => {
    expect(lines(planRouter(routerD, EMPTY).steps)).toEqual([
      "sysctl -w net.ipv4.ip_forward=1",
      "sysctl -w net.ipv4.conf.all.send_redirects=0",
      "sysctl -w net.ipv4.conf.default.send_redirects=0",
      "sysctl -w net.ipv4.conf.eth0.send_redirects=0",
      "sysctl -w net.ipv4.conf.up0.send_redirects=0",
      "sysctl -w net.ipv4.conf.all.rp_filter=1",
      "sysctl -w net.ipv4.conf.eth0.rp_filter=1",
      "ip link set dev lo up",
      "ip addr replace 10.10.10.1/32 dev lo label lo:vmctl",
      "ip route replace unreachable 10.10.10.0/24 proto 77",
      "ip route replace unreachable 169.254.0.0/16 proto 77",
      "ip route replace 10.10.10.11 via 198.18.0.11 dev eth0 proto 77",
    ]);
  });

  it("removes only its own routes, address, NAT rule and ipset when no network is left", () => {
    const d: RouterDesired = { router: { ...router, uplink: "eth0" }, networks: [], ports: [] };
    expect(lines(planRouter(d, captured()).steps)).toEqual([
      "ip route del default table 101 proto 77",
      "ip route del 10.10.10.0/24 table 101 proto 77",
      "ip route del 10.10.10.11 table 101 proto 77",
      "ip route del unreachable 10.20.20.0/24 proto 77",
      "ip addr del 10.10.10.1/32 dev lo",
      "iptables -w -t nat -D POSTROUTING -o eth0 -m set --match-set vmctl-nets src -m set '!' --match-set vmctl-nets dst -m comment --comment vmctl -j MASQUERADE",
      "ipset destroy vmctl-nets",
    ]);
  });

  it("removes an older vmctl's iptables NAT rule and ipset while networks remain (migration)", () => {
    const out = lines(planRouter(routerD, captured()).steps);
    expect(out).toContain(
      "iptables -w -t nat -D POSTROUTING -o eth0 -m set --match-set vmctl-nets src -m set '!' --match-set vmctl-nets dst -m comment --comment vmctl -j MASQUERADE",
    );
    expect(out.indexOf("ipset destroy vmctl-nets")).toBeGreaterThan(
      out.findIndex((l) => l.startsWith("iptables -w -t nat -D")),
    );
    expect(out.join("\n")).not.toMatch(/iptables .*-A|ipset (create|add)/);
  });
});

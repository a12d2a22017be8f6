import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkFwRule, fwRuleNft } from "../../vmctl/net/fw-rules.js";
import {
  type HostProtectionDesired,
  hostProtectionItems,
  hostSpec,
  planHostProtectionNft,
} from "../../vmctl/net/host-protection.js";
import { ipGroupUsers } from "../../vmctl/net/ip-groups.js";
import type { Network, StoreData } from "../../vmctl/net/model.js";
import { parseTable, tableDefinition, wantedStructure } from "../../vmctl/net/nft-table.js";
import {
  planRouterFirewallNft,
  routerFirewallDesired,
  routerFirewallItems,
  routerSpec,
} from "../../vmctl/net/router-firewall.js";
import { testRouter } from "../helpers/hosts.js";

const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, "../fixtures/perimeter", name), "utf8");

const net1: Network = {
  name: "net1",
  subnet: "10.10.10.0/24",
  gateway: "10.10.10.1",
  bridgeIp: "10.10.10.2",
  table: 101,
  rulePref: 1000,
  bridge: "br-net1",
  mac: "02:00:00:00:00:01",
};
const net2: Network = {
  ...net1,
  name: "net2",
  subnet: "10.20.20.0/24",
  gateway: "10.20.20.1",
  bridgeIp: "10.20.20.2",
  table: 102,
  rulePref: 1001,
  bridge: "br-net2",
  internet: false,
};

// Captured from nft 1.0.6 after applying the plan for exactly these desired states.
const host: HostProtectionDesired = {
  networks: [net1, net2],
  exceptions: [{ proto: "tcp", ports: [22, 22] }],
  tokenHopLimit: 1,
};
const hostListed = parseTable(fixture("nft-list-host.json"), hostSpec(host));
const data: StoreData = {
  version: 1,
  networks: [net1, net2],
  ports: [],
  ipGroups: [],
  securityGroups: [],
  firewall: [
    { id: 1, action: "allow", from: "net1", to: "net2", proto: "tcp", ports: [5432, 5432] },
    { id: 2, action: "deny", from: "net2", to: "192.0.2.0/24", proto: "any" },
  ],
};
const router = { ...testRouter(), uplink: "up0" };
const routerD = routerFirewallDesired(router, ["198.18.0.11"], data);
const routerListed = parseTable(fixture("nft-list-router.json"), routerSpec(routerD));

describe("host protection planner", () => {
  it("reads back the structure and elements it writes from nft's JSON listing", () => {
    expect(hostListed.structure).toEqual(wantedStructure(hostSpec(host)));
    expect(hostListed.elements.own_addr).toEqual([
      '"br-net1" . 10.10.10.2',
      '"br-net2" . 10.20.20.2',
    ]);
    expect(planHostProtectionNft(host, hostListed)).toBeUndefined();
    expect(hostProtectionItems(host, hostListed).every((i) => i.present)).toBe(true);
  });

  it("adds a network as element updates only", () => {
    const net3 = { ...net2, name: "net3", bridge: "br-net3", bridgeIp: "10.30.30.2" };
    expect(planHostProtectionNft({ ...host, networks: [net1, net2, net3] }, hostListed)).toBe(
      [
        'add element inet vmctl_host bridges { "br-net3" }',
        'add element inet vmctl_host own_addr { "br-net3" . 10.30.30.2 }',
        "",
      ].join("\n"),
    );
  });

  it("replaces the table in one transaction when a rule differs (another hop limit, an exception gone)", () => {
    for (const d of [
      { ...host, tokenHopLimit: 2 },
      { ...host, exceptions: [] },
    ]) {
      const input = planHostProtectionNft(d, hostListed) ?? "";
      expect(input.split("\n").slice(0, 3)).toEqual([
        "table inet vmctl_host",
        "delete table inet vmctl_host",
        "table inet vmctl_host {",
      ]);
      expect(input).toContain(tableDefinition(hostSpec(d)).trimEnd());
    }
    expect(planHostProtectionNft({ ...host, tokenHopLimit: 2 }, hostListed)).toContain(
      "ct mark & 0x40000000 == 0x40000000 ip ttl set 2",
    );
  });

  it("drops the table when no network is left, and lists a missing exception as not in place", () => {
    expect(planHostProtectionNft({ ...host, networks: [] }, hostListed)).toBe(
      "delete table inet vmctl_host\n",
    );
    const more = {
      ...host,
      exceptions: [
        ...host.exceptions,
        { proto: "udp" as const, ports: [5000, 5010] as [number, number] },
      ],
    };
    const items = hostProtectionItems(more, hostListed);
    expect(items.find((i) => i.what.includes("udp:5000-5010"))?.present).toBe(false);
    expect(items.find((i) => i.what.includes("tcp:22-22"))?.present).toBe(true);
  });
});

describe("router firewall planner", () => {
  it("reads back its table: nothing to do, every rule and network in place", () => {
    expect(routerListed.structure).toEqual(wantedStructure(routerSpec(routerD)));
    expect(routerListed.elements).toEqual({
      nets: ["10.10.10.0/24", "10.20.20.0/24"],
      internet: ["10.10.10.0/24"],
      hosts: ["198.18.0.11"],
    });
    expect(planRouterFirewallNft(routerD, routerListed)).toBeUndefined();
    expect(routerFirewallItems(routerD, routerListed).every((i) => i.present)).toBe(true);
  });

  it("switches a network's internet egress as an element update", () => {
    const on = routerFirewallDesired(router, ["198.18.0.11"], {
      ...data,
      networks: [net1, { ...net2, internet: true }],
    });
    expect(planRouterFirewallNft(on, routerListed)).toBe(
      "add element ip vmctl_router internet { 10.20.20.0/24 }\n",
    );
  });

  it("never masquerades VM-to-VM traffic and only what leaves by the uplink (pitfall 1)", () => {
    expect(tableDefinition(routerSpec(routerD))).toContain(
      'oifname "up0" ip saddr @internet ip daddr != @nets masquerade',
    );
  });

  it("writes rules in order: own network, perimeter rules, internet, final deny", () => {
    const chain = routerSpec(routerD).chains.find((c) => c.name === "from_vm")?.rules ?? [];
    expect(chain).toEqual([
      "ip saddr 10.10.10.0/24 ip daddr 10.10.10.0/24 accept",
      "ip saddr 10.20.20.0/24 ip daddr 10.20.20.0/24 accept",
      "ip saddr 10.10.10.0/24 ip daddr 10.20.20.0/24 meta l4proto tcp tcp dport 5432 accept",
      'ip saddr 10.20.20.0/24 ip daddr 192.0.2.0/24 counter name "perimeter_denied" drop',
      "ip daddr @hosts icmp type { echo-reply, destination-unreachable, time-exceeded } accept",
      "ip daddr @hosts tcp flags & (syn | ack) != syn accept",
      'oifname "up0" ip saddr @internet accept',
      'counter name "perimeter_denied" drop',
    ]);
    const moved = routerFirewallDesired(router, ["198.18.0.11"], {
      ...data,
      firewall: [...(data.firewall ?? [])].reverse(),
    });
    expect(planRouterFirewallNft(moved, routerListed)).toMatch(
      /^table ip vmctl_router\ndelete table/,
    );
  });
});

describe("perimeter rules", () => {
  const bad = (r: Parameters<typeof checkFwRule>[1]) => {
    try {
      checkFwRule(data, r);
      return "";
    } catch (e) {
      return (e as Error).message;
    }
  };
  it("refuses bad input in one line", () => {
    expect(bad({ action: "allow", from: "net9", to: "net2", proto: "tcp" })).toBe(
      "net9 is neither a network (see: vmctl net list), an IP group (ipg:NAME) nor an IPv4 CIDR",
    );
    expect(bad({ action: "allow", from: "net1", to: "10.0.0.1/8", proto: "tcp" })).toBe(
      "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
    );
    expect(bad({ action: "allow", from: "net1", to: "net2", proto: "icmp", ports: [1, 2] })).toBe(
      "--port needs --proto tcp or udp (not icmp)",
    );
    expect(bad({ action: "deny", from: "net1", to: "net1", proto: "any" })).toMatch(
      /^net1 to net1: traffic inside one network is always allowed/,
    );
    expect(
      bad({ action: "deny", from: "net1", to: "net2", proto: "tcp", ports: [5432, 5432] }),
    ).toBe(
      "rule #1 says the opposite (allow net1 -> net2 tcp port 5432); delete it first (vmctl fw del 1)",
    );
    expect(
      bad({ action: "allow", from: "net1", to: "net2", proto: "tcp", ports: [5432, 5432] }),
    ).toBe("rule #1 already says this (allow net1 -> net2 tcp port 5432)");
    expect(bad({ action: "allow", from: "net1", to: "ipg:x", proto: "tcp" })).toBe(
      "no IP group named x (see: vmctl ipg list)",
    );
    expect(bad({ action: "allow", from: "net1", to: "192.0.2.7", proto: "udp" })).toBe("");
  });

  it("renders a single address as a /32 and a port range", () => {
    expect(
      fwRuleNft(data, {
        id: 3,
        action: "allow",
        from: "net2",
        to: "192.0.2.7",
        proto: "udp",
        ports: [5000, 5010],
      }),
    ).toBe(
      "ip saddr 10.20.20.0/24 ip daddr 192.0.2.7/32 meta l4proto udp udp dport 5000-5010 accept",
    );
  });
});

describe("perimeter rules naming an IP group", () => {
  const partners = { name: "partners", cidrs: ["198.51.100.0/24", "203.0.113.7/32"] };
  const withIpg: StoreData = {
    ...data,
    ipGroups: [partners, { name: "unused", cidrs: ["192.0.2.0/28"] }],
    firewall: [
      ...(data.firewall ?? []),
      { id: 3, action: "allow", from: "net1", to: "ipg:partners", proto: "tcp", ports: [443, 443] },
    ],
  };
  const d = routerFirewallDesired(router, ["198.18.0.11"], withIpg);

  it("matches the group's set, which the table holds only for groups a rule names", () => {
    expect(d.rules[2]?.nft).toBe(
      "ip saddr 10.10.10.0/24 ip daddr @i_partners meta l4proto tcp tcp dport 443 accept",
    );
    expect(Object.keys(routerSpec(d).sets)).toEqual(["nets", "internet", "hosts", "i_partners"]);
    const input = planRouterFirewallNft(d, routerListed) ?? "";
    expect(input).toContain("set i_partners {");
    expect(input).toMatch(
      /add element ip vmctl_router i_partners \{ 198\.51\.100\.0\/24, 203\.0\.113\.7 \}/,
    );
    expect(input).not.toContain("i_unused");
  });

  it("refuses a repeat of a rule with the same group, and names the rule as a user of it", () => {
    expect(() =>
      checkFwRule(withIpg, {
        action: "allow",
        from: "net1",
        to: "ipg:partners",
        proto: "tcp",
        ports: [443, 443],
      }),
    ).toThrow("rule #3 already says this (allow net1 -> ipg:partners tcp port 443)");
    expect(ipGroupUsers(withIpg, "partners")).toEqual(["perimeter rule #3"]);
  });
});

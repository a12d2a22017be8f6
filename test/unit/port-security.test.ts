import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatCommand } from "../../lib/exec/command.js";
import { parsePortLinks, planPortLinks } from "../../vmctl/net/port-links.js";
import {
  type PortSecurityDesired,
  parseTable,
  planPortSecurityNft,
  securityDesired,
} from "../../vmctl/net/port-security.js";
import { tableDefinition, wantedStructure } from "../../vmctl/net/port-security-rules.js";

const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, "../fixtures/portsec", name), "utf8");
// Captured from nft 1.0.6 after applying the plan for exactly these two ports.
const listed = parseTable(fixture("nft-list-two-ports.json"));
const vm1 = { dev: "vm1", mac: "52:54:00:00:01:01", ip: "10.10.10.11" };
const vm2 = { dev: "vm2", mac: "52:54:00:00:01:02", ip: "10.10.10.12" };
const two: PortSecurityDesired = { bridges: ["br-net1"], ports: [vm1, vm2] };

describe("port security planner", () => {
  it("reads back the structure it writes from nft's own JSON listing", () => {
    expect(listed.structure).toEqual(wantedStructure());
    expect(listed.elements.port_chaddr).toEqual([
      '"vm1" . 0x525400000101',
      '"vm2" . 0x525400000102',
    ]);
    expect(listed.elements.port_arp).toEqual([
      '"vm1" . 52:54:00:00:01:01 . 10.10.10.11',
      '"vm2" . 52:54:00:00:01:02 . 10.10.10.12',
    ]);
  });

  it("changes nothing when the table already holds exactly the ports", () => {
    expect(planPortSecurityNft(two, listed)).toBeUndefined();
  });

  it("builds the whole table and its elements in one transaction when it is absent", () => {
    const input = planPortSecurityNft({ bridges: ["br-net1"], ports: [vm1] }, undefined);
    expect(input).toBe(
      [
        "table bridge vmctl_portsec",
        "delete table bridge vmctl_portsec",
        tableDefinition().trimEnd(),
        'add element bridge vmctl_portsec ports { "vm1" }',
        'add element bridge vmctl_portsec port_mac { "vm1" . 52:54:00:00:01:01 }',
        'add element bridge vmctl_portsec port_ip { "vm1" . 10.10.10.11 }',
        'add element bridge vmctl_portsec port_arp { "vm1" . 52:54:00:00:01:01 . 10.10.10.11 }',
        'add element bridge vmctl_portsec port_chaddr { "vm1" . 0x525400000101 }',
        "",
      ].join("\n"),
    );
  });

  it("adds or removes a port as element updates only, never touching the rules", () => {
    const vm3 = { dev: "vm3", mac: "52:54:00:00:01:03", ip: "10.10.10.13" };
    const added = planPortSecurityNft({ ...two, ports: [vm1, vm2, vm3] }, listed) ?? "";
    expect(added.split("\n").filter(Boolean)).toEqual([
      'add element bridge vmctl_portsec ports { "vm3" }',
      'add element bridge vmctl_portsec port_mac { "vm3" . 52:54:00:00:01:03 }',
      'add element bridge vmctl_portsec port_ip { "vm3" . 10.10.10.13 }',
      'add element bridge vmctl_portsec port_arp { "vm3" . 52:54:00:00:01:03 . 10.10.10.13 }',
      'add element bridge vmctl_portsec port_chaddr { "vm3" . 0x525400000103 }',
    ]);
    const removed = planPortSecurityNft({ ...two, ports: [vm1] }, listed) ?? "";
    expect(removed).toMatch(/^delete element bridge vmctl_portsec ports \{ "vm2" \}\n/);
    expect(removed.split("\n").filter(Boolean)).toHaveLength(5);
    expect(removed).not.toContain("vm1");
  });

  it("repairs a changed address of a port: the stale elements go, the right ones come", () => {
    const moved = planPortSecurityNft(
      { ...two, ports: [vm1, { ...vm2, ip: "10.10.10.99" }] },
      listed,
    );
    expect(moved).toContain('delete element bridge vmctl_portsec port_ip { "vm2" . 10.10.10.12 }');
    expect(moved).toContain('add element bridge vmctl_portsec port_ip { "vm2" . 10.10.10.99 }');
    expect(moved).not.toContain("port_mac");
  });

  it("replaces the whole table when a rule is missing or a foreign rule was added", () => {
    const missing = {
      ...listed,
      structure: listed.structure.filter((l) => !l.startsWith("rule arp_check")),
    };
    expect(planPortSecurityNft(two, missing)).toMatch(
      /^table bridge vmctl_portsec\ndelete table bridge vmctl_portsec\ntable bridge vmctl_portsec \{/,
    );
    const foreign = { ...listed, structure: [...listed.structure, "rule from_port -"].sort() };
    expect(planPortSecurityNft(two, foreign)).toContain(tableDefinition().trimEnd());
    expect(planPortSecurityNft(two, foreign)).toContain(
      'add element bridge vmctl_portsec ports { "vm1", "vm2" }',
    );
  });

  it("removes the table when the host has no vmctl bridge left, and leaves an absent one alone", () => {
    expect(planPortSecurityNft({ bridges: [], ports: [] }, listed)).toBe(
      "delete table bridge vmctl_portsec\n",
    );
    expect(planPortSecurityNft({ bridges: [], ports: [] }, undefined)).toBeUndefined();
  });

  it("protects only ports recorded with a MAC, on networks that exist", () => {
    const net = { name: "net1", bridge: "br-net1" } as Parameters<typeof securityDesired>[0][0];
    const d = securityDesired(
      [net],
      [
        { network: "net1", host: "h", ip: "10.10.10.11", dev: "vm1", mac: "52:54:00:00:01:01" },
        { network: "net1", host: "h", ip: "10.10.10.12", dev: "vm2", mac: "" },
        { network: "gone", host: "h", ip: "10.9.9.9", dev: "vm9", mac: "52:54:00:00:09:09" },
      ],
    );
    expect(d).toEqual({ bridges: ["br-net1"], ports: [{ ...vm1, bridge: "br-net1" }] });
  });
});

describe("port link settings", () => {
  // vm1: learning and flooding off with its static entry; vm2: a fresh port of the bridge.
  const links = parsePortLinks(fixture("ip-link-details.json"), fixture("bridge-fdb.json"));

  it("parses learning, flooding and static FDB entries of bridge ports", () => {
    expect(links.map((l) => [l.dev, l.master, l.learning, l.flood])).toEqual([
      ["vm1", "br0", false, false],
      ["vm2", "br0", true, true],
    ]);
    expect(links[0]?.staticMacs).toEqual(["52:54:00:00:01:01"]);
    expect(links[1]?.staticMacs).toEqual([]);
  });

  it("repairs only ports plugged into their bridge whose settings drifted", () => {
    const steps = planPortLinks(
      [
        { ...vm1, bridge: "br0" },
        { ...vm2, bridge: "br0" },
        { dev: "vm3", mac: "52:54:00:00:01:03", ip: "10.10.10.13", bridge: "br0" },
      ],
      links,
    );
    expect(steps.map((s) => formatCommand(s.command))).toEqual([
      "ip link set dev vm2 type bridge_slave learning off flood off",
      "bridge fdb replace 52:54:00:00:01:02 dev vm2 master static",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { parseCluster } from "../../vmctl/net/cluster.js";

const GOOD = `
hosts:
  - name: host1
    address: 198.18.0.11
    lan: eth0
    target: ssh:root@198.18.0.11
    libvirt: qemu+ssh://root@198.18.0.11/system
  - name: host2
    address: 198.18.0.12
    lan: eno1
router:
  name: router
  address: 198.18.0.1
  lan: eth0
  uplink: eth1
  target: netns:rt
`;

describe("cluster.yaml", () => {
  it("reaches an ssh: host's libvirtd over libvirt's ssh transport unless told otherwise", () => {
    const c = parseCluster(
      GOOD.replace("    libvirt: qemu+ssh://root@198.18.0.11/system\n", "").replace(
        "    lan: eno1\n",
        "    lan: eno1\n    target: netns:h2\n",
      ),
      "c.yaml",
    );
    expect(c.hosts.map((h) => h.libvirt)).toEqual([
      "qemu+ssh://root@198.18.0.11/system",
      "qemu:///system",
    ]);
    // Said explicitly, the libvirtd of the machine vmctl runs on (doctor warns about it).
    const local = parseCluster(
      GOOD.replace("qemu+ssh://root@198.18.0.11/system", "qemu:///system"),
      "c.yaml",
    );
    expect(local.hosts[0]?.libvirt).toBe("qemu:///system");
  });

  it("parses hosts and the router, defaulting target and libvirt", () => {
    const c = parseCluster(GOOD, "/etc/vmctl/cluster.yaml");
    expect(c.hosts[0]).toEqual({
      name: "host1",
      address: "198.18.0.11",
      lan: "eth0",
      target: { kind: "ssh", destination: "root@198.18.0.11" },
      libvirt: "qemu+ssh://root@198.18.0.11/system",
      stateDir: "/var/lib/vmctl",
      mdserverStateDir: "/var/lib/mdserver",
      as: 4200000000,
      site: "main",
    });
    expect(c.hosts[1]?.target).toEqual({ kind: "local" });
    expect(c.hosts[1]?.libvirt).toBe("qemu:///system");
    expect(c.routers[0]).toEqual({
      name: "router",
      address: "198.18.0.1",
      lan: "eth0",
      uplink: "eth1",
      target: { kind: "netns", name: "rt" },
      stateDir: "/var/lib/vmctl",
      as: 4200000000,
      site: "main",
    });
    expect(c.routers).toHaveLength(1);
    expect(c.routing).toBe("static");
  });

  it("reads routing: bgp with per-machine AS numbers and the router's state-dir", () => {
    const c = parseCluster(
      `routing: bgp\n${GOOD.replace("lan: eno1", "lan: eno1\n    as: 65001").replace(
        "uplink: eth1",
        "uplink: eth1\n  as: 65000\n  state-dir: /srv/vmctl",
      )}`,
      "c.yaml",
    );
    expect(c.routing).toBe("bgp");
    expect(c.hosts.map((h) => h.as)).toEqual([4200000000, 65001]);
    expect(c.routers[0]?.as).toBe(65000);
    expect(c.routers[0]?.stateDir).toBe("/srv/vmctl");
  });

  const TWO = GOOD.replace(
    /router:\n(( {2}.*\n)+)/,
    (_m, body: string) =>
      `routers:\n${[
        body,
        body.replace("name: router", "name: router2").replace("198.18.0.1\n", "198.18.0.2\n"),
      ]
        .map((b) => b.replace(/^ {2}/gm, "    ").replace(/^ {4}/, "  - "))
        .join("")}`,
  );

  const SITES = `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0}
  - {name: host2, address: 198.18.1.12, lan: eth0, site: b}
routers:
  - {name: r1, address: 198.18.0.1, lan: eth0, uplink: eth1, endpoint: 192.0.2.1, tunnel-address: 10.255.0.1}
  - name: r2
    address: 198.18.1.1
    lan: eth0
    uplink: eth1
    site: b
    endpoint: 192.0.2.2
    tunnel-address: 10.255.0.2
`;

  it("reads a list of routers, each in the default site unless one is given", () => {
    const c = parseCluster(TWO, "c.yaml");
    expect(c.routers.map((r) => [r.name, r.address, r.site])).toEqual([
      ["router", "198.18.0.1", "main"],
      ["router2", "198.18.0.2", "main"],
    ]);
    const sites = parseCluster(`routing: bgp\nwireguard: userspace\n${SITES}`, "c.yaml");
    expect(sites.hosts.map((h) => h.site)).toEqual(["main", "b"]);
    expect(sites.routers.map((r) => [r.site, r.endpoint, r.tunnelAddress])).toEqual([
      ["main", "192.0.2.1", "10.255.0.1"],
      ["b", "192.0.2.2", "10.255.0.2"],
    ]);
    expect(sites.wireguard).toBe("userspace");
    expect(parseCluster(TWO, "c.yaml").wireguard).toBe("kernel");
  });

  it("reads host protection exceptions and the token hop limit, closed and 1 by default", () => {
    expect(parseCluster(GOOD, "c.yaml")).toMatchObject({ hostAllow: [], tokenHopLimit: 1 });
    const c = parseCluster(
      `host-allow: [tcp:22, udp:5000-5010]\ntoken-hop-limit: 2\n${GOOD}`,
      "c.yaml",
    );
    expect(c.hostAllow).toEqual([
      { proto: "tcp", ports: [22, 22] },
      { proto: "udp", ports: [5000, 5010] },
    ]);
    expect(c.tokenHopLimit).toBe(2);
  });

  it.each([
    [
      `${TWO}router: {name: r3, address: 198.18.0.3, lan: eth0, uplink: eth1}\n`,
      "c.yaml: routers: give either router (one) or routers (a list), not both",
    ],
    [
      TWO.replace("198.18.0.2\n", "198.18.0.12\n"),
      "c.yaml: hosts[1].address: duplicate address 198.18.0.12",
    ],
    [
      TWO.replace("name: router2", "name: router"),
      "c.yaml: routers[1].name: duplicate name router",
    ],
    [
      GOOD.replace("lan: eno1", "lan: eno1\n    site: b"),
      "c.yaml: hosts[1].site: no router in site b (give a router site: b)",
    ],
    [
      TWO.replace("name: router2", "name: router2\n    site: b").replace(
        "lan: eno1",
        "lan: eno1\n    site: b",
      ),
      "c.yaml: routing: several sites need routing: bgp (static routes do not cross sites)",
    ],
    [
      GOOD.replace("address: 198.18.0.12", "address: 198.18.0"),
      'c.yaml: hosts[1].address: "198.18.0" is not an IPv4 address',
    ],
    [
      GOOD.replace("uplink: eth1", "uplink: eth1\n  color: red"),
      "c.yaml: router.color: unknown key",
    ],
    [
      GOOD.replace("target: netns:rt", "target: telnet:rt"),
      'c.yaml: router.target: "telnet:rt" must be local, netns:NAME or ssh:root@host',
    ],
    [GOOD.replace("name: host2", "name: host1"), "c.yaml: hosts[1].name: duplicate name host1"],
    [
      GOOD.replace("address: 198.18.0.12", "address: 198.18.0.11"),
      "c.yaml: hosts[1].address: duplicate address 198.18.0.11",
    ],
    [GOOD.replace("    lan: eno1\n", ""), "c.yaml: hosts[1].lan: required string"],
    ["hosts: []\n", "c.yaml: hosts: expected a non-empty list"],
    [`routing: ospf\n${GOOD}`, 'c.yaml: routing: "ospf" must be static or bgp'],
    [
      `host-allow: [tcp:22, icmp:1]\n${GOOD}`,
      'c.yaml: host-allow[1]: "icmp:1" must be tcp:PORT or udp:PORT[-PORT] with ports 1-65535',
    ],
    [
      `host-allow: [udp:10-5]\n${GOOD}`,
      'c.yaml: host-allow[0]: "udp:10-5" must be tcp:PORT or udp:PORT[-PORT] with ports 1-65535',
    ],
    [`token-hop-limit: 0\n${GOOD}`, 'c.yaml: token-hop-limit: "0" must be a TTL from 1 to 255'],
    [
      GOOD.replace("lan: eno1", "lan: eno1\n    as: 0"),
      'c.yaml: hosts[1].as: "0" must be an AS number from 1 to 4294967295',
    ],
    [
      GOOD.replace("uplink: eth1", "uplink: eth1\n  as: x"),
      'c.yaml: router.as: "x" must be an AS number from 1 to 4294967295',
    ],
    [
      GOOD.replace("lan: eno1", "lan: this-name-is-too-long0"),
      'c.yaml: hosts[1].lan: invalid value "this-name-is-too-long0" (an interface name: up to 15 letters, digits and _ . @ -)',
    ],
    [
      GOOD.replace("    lan: eno1\n", "    lan: eno1\n    colour: red\n"),
      "c.yaml: hosts[1].colour: unknown key",
    ],
    [
      GOOD.replace("libvirt: qemu+ssh://root@198.18.0.11/system", 'libvirt: ""'),
      "c.yaml: hosts[0].libvirt: required string",
    ],
    ["- a\n- b\n", "c.yaml: (top): expected a mapping with hosts and router (or routers)"],
    [`${GOOD}extra: 1\n`, "c.yaml: extra: unknown key"],
    ["hosts: [\n", "c.yaml: not valid YAML"],
  ])("rejects bad input with one line naming file and key (%#)", (text, message) => {
    let err: Error | undefined;
    try {
      parseCluster(text, "c.yaml");
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message.startsWith(message), err?.message).toBe(true);
    expect(err?.message).not.toContain("\n");
  });
});

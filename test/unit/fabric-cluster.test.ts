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
    });
    expect(c.hosts[1]?.target).toEqual({ kind: "local" });
    expect(c.hosts[1]?.libvirt).toBe("qemu:///system");
    expect(c.router).toEqual({
      name: "router",
      address: "198.18.0.1",
      lan: "eth0",
      uplink: "eth1",
      target: { kind: "netns", name: "rt" },
    });
  });

  it.each([
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

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCluster } from "../../vmctl/net/cluster.js";
import type { StoreData } from "../../vmctl/net/model.js";
import { buildTopology, topologyText } from "../../vmctl/net/topology.js";
import { topologyDot } from "../../vmctl/net/topology-dot.js";

const CLUSTER = `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0, target: "ssh:root@198.18.0.11", libvirt: "qemu+ssh://root@198.18.0.11/system"}
  - {name: host2, address: 198.18.0.12, lan: eth0, target: "netns:h2"}
router: {name: gw, address: 198.18.0.1, lan: eth0, uplink: up0}
`;

const net = (name: string, third: number, table: number) => ({
  name,
  subnet: `10.${third}.0.0/24`,
  gateway: `10.${third}.0.1`,
  bridgeIp: `10.${third}.0.2`,
  table,
  rulePref: 1000 + table - 100,
  bridge: `br-${name}`,
  mac: "02:00:00:00:00:01",
});

const SAMPLE: StoreData = {
  version: 1,
  networks: [net("web", 10, 101), net("db", 20, 102)],
  ports: [
    {
      network: "web",
      host: "host1",
      ip: "10.10.0.11",
      dev: "vm1111111111",
      mac: "52:54:00:00:00:11",
    },
    {
      network: "web",
      host: "host2",
      ip: "10.10.0.12",
      dev: "vm2222222222",
      mac: "52:54:00:00:00:12",
    },
    {
      network: "db",
      host: "host2",
      ip: "10.20.0.11",
      dev: "vm3333333333",
      mac: "52:54:00:00:00:21",
    },
    { network: "db", host: "host1", ip: "10.20.0.50", dev: "veth-test", mac: "52:54:00:00:00:50" },
  ],
  ipGroups: [],
  securityGroups: [],
};
const VMS = [
  { name: "web1", host: "host1", state: "running", ip: "10.10.0.11" },
  { name: "web2", host: "host2", state: "shut off", ip: "10.10.0.12" },
  { name: "pg1", host: "host2", state: "running", ip: "10.20.0.11" },
  { name: "half", host: "host1", state: "shut off", ip: "10.10.0.99" },
];

describe("vmctl topology", () => {
  const cluster = parseCluster(CLUSTER, "cluster.yaml");
  const t = buildTopology(cluster, SAMPLE, VMS);

  it("puts each VM on its port, and names ports without a VM and VMs without a port", () => {
    const h1 = t.hosts[0];
    expect(h1?.ports.map((p) => [p.ip, p.vm ?? "-"])).toEqual([
      ["10.10.0.11", "web1"],
      ["10.20.0.50", "-"],
    ]);
    expect(h1?.unplugged.map((v) => v.name)).toEqual(["half"]);
    expect(t.hosts[1]?.ports.map((p) => `${p.vm}:${p.state}`)).toEqual([
      "web2:shut off",
      "pg1:running",
    ]);
  });

  it("lists the routes the planners write: /32s via the VM's host on the router", () => {
    expect(t.routers[0]?.routes).toContainEqual({
      table: "main",
      dst: "10.20.0.11/32",
      host: "host2",
      via: "via 198.18.0.12 (host2)",
    });
    const bgp = buildTopology({ ...cluster, routing: "bgp" }, SAMPLE, VMS);
    expect(bgp.routers[0]?.routes.find((r) => r.dst === "10.20.0.11/32")?.via).toBe(
      "BGP from host2 (198.18.0.12)",
    );
    expect(t.hosts[0]?.routes).toContainEqual({
      table: "101",
      dst: "10.10.0.11/32",
      via: "dev br-web",
    });
  });

  it("prints one machine after another as text", () => {
    const text = topologyText(t);
    expect(text[0]).toBe(
      "router gw 198.18.0.1 [local] site main, lan eth0, uplink up0, routing static",
    );
    expect(text).toContain(
      "host host1 198.18.0.11 [ssh:root@198.18.0.11] site main, lan eth0, libvirt qemu+ssh://root@198.18.0.11/system",
    );
    expect(text).toContain("    10.10.0.11 web1 (running) dev vm1111111111 mac 52:54:00:00:00:11");
    expect(text).toContain("    10.20.0.50 (no VM) dev veth-test mac 52:54:00:00:00:50");
    expect(text).toContain("  half (shut off): no port in the store");
  });

  it("renders as a graph graphviz accepts, with every VM, bridge and route count", () => {
    const dot = topologyDot(t).join("\n");
    // Real graphviz parses and lays it out (it exits non-zero on a syntax error).
    const svg = execFileSync("dot", ["-Tsvg"], { input: dot, encoding: "utf8" });
    if (process.env.TOPOLOGY_SVG) writeFileSync(process.env.TOPOLOGY_SVG, svg);
    const text = svg.replaceAll("&#45;", "-");
    for (const s of ["web1", "web2", "pg1", "half", "br-web", "br-db", "static: 2 VM routes"])
      expect(text).toContain(`>${s}</text>`);
    expect(text).toContain(">db 10.20.0.0/24</text>");
    expect(svg.match(/class="cluster"/g)).toHaveLength(2);
  });
});

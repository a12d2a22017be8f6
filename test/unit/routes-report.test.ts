import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Cluster } from "../../vmctl/net/cluster.js";
import type { RouteState } from "../../vmctl/net/machine-state.js";
import { parseBirdProtocols, RTPROT_BIRD, routesReport } from "../../vmctl/net/routes.js";
import { testHost, testRouter } from "../helpers/hosts.js";

const fixture = (f: string) =>
  readFileSync(new URL(`../fixtures/fabric/${f}`, import.meta.url), "utf8");

const cluster: Cluster = {
  routing: "bgp",
  wireguard: "kernel",
  hosts: [testHost(), testHost({ name: "host2", address: "198.18.0.12" })],
  routers: [testRouter()],
  hostAllow: [],
  tokenHopLimit: 1,
};
const port = (ip: string, host: string) => ({ network: "net1", host, ip, dev: "vm", mac: "" });
const route = (dst: string, gateway: string, proto = RTPROT_BIRD): RouteState => ({
  table: 254,
  type: "unicast",
  dst,
  gateway,
  dev: "eth0",
  proto,
  scope: undefined,
});

describe("vmctl routes", () => {
  it("reads birdc show protocols, Info with spaces included", () => {
    expect(parseBirdProtocols(fixture("birdc-protocols-host-connecting.txt"))).toEqual([
      { name: "device1", proto: "Device", state: "up", info: "" },
      { name: "kernel_101", proto: "Kernel", state: "up", info: "" },
      { name: "pipe_101", proto: "Pipe", state: "up", info: "vmctl_101 <=> master4" },
      {
        name: "router_198_18_0_1",
        proto: "BGP",
        state: "start",
        info: "Active        Socket: Connection refused",
      },
    ]);
  });

  it("reports sessions and the router's VM routes, flagging a missing and a misdirected one", () => {
    const ports = [
      port("10.10.10.11", "host1"),
      port("10.10.10.21", "host2"),
      port("10.10.10.22", "host2"),
    ];
    const r = routesReport(cluster, ports, [
      {
        machine: "router",
        protocols: parseBirdProtocols(fixture("birdc-protocols-router.txt")),
        routes: [
          route("10.10.10.11/32", "198.18.0.11"),
          route("10.10.10.21/32", "198.18.0.11"),
          route("10.10.10.22/32", "198.18.0.12", 77),
        ],
      },
      {
        machine: "host1",
        protocols: parseBirdProtocols(fixture("birdc-protocols-host-connecting.txt")),
      },
      { machine: "host2", protocols: undefined },
    ]);
    expect(r.lines).toEqual([
      "router: BGP host1 (198.18.0.11) Established",
      "router: BGP host2 (198.18.0.12) Established",
      "router: 1 of 3 VM routes",
      "host1: BGP router (198.18.0.1) Active",
    ]);
    expect(r.problems).toEqual([
      "router: no route to 10.10.10.21 via host2 (network net1)",
      // vmctl's own static route does not count in bgp mode: BIRD does not hold it.
      "router: no route to 10.10.10.22 via host2 (network net1)",
      "host1: BGP session with router is Active",
      "host2: BIRD does not answer (run: vmctl host apply host2)",
    ]);
  });

  it("with routing: static checks vmctl's own /32s and no sessions", () => {
    const r = routesReport(
      { ...cluster, routing: "static" },
      [port("10.10.10.11", "host1")],
      [{ machine: "router", routes: [route("10.10.10.11/32", "198.18.0.11", 77)] }],
    );
    expect(r).toEqual({ lines: ["router: 1 of 1 VM routes"], problems: [] });
  });

  it("with sites, a router expects its site's hosts and the other sites' routers, and VMs of the other site via their routers' tunnels", () => {
    const sites: Cluster = {
      routing: "bgp",
      wireguard: "userspace",
      hosts: [testHost(), testHost({ name: "host3", address: "198.18.1.13", site: "b" })],
      routers: [
        testRouter({ name: "r1", tunnelAddress: "10.255.0.1" }),
        testRouter({ name: "r3", address: "198.18.1.1", site: "b", tunnelAddress: "10.255.0.3" }),
      ],
      hostAllow: [],
      tokenHopLimit: 1,
    };
    const proto = (name: string) => ({ name, proto: "BGP", state: "up", info: "Established" });
    const r = routesReport(
      sites,
      [port("10.10.10.11", "host1"), port("10.10.10.31", "host3")],
      [
        {
          machine: "r3",
          protocols: [proto("host_198_18_1_13"), proto("site_10_255_0_1")],
          routes: [
            route("10.10.10.11/32", "10.255.0.1"),
            // Via the far site's host address: wrong over a tunnel, flagged.
            route("10.10.10.31/32", "198.18.0.11"),
          ],
        },
        { machine: "host3", protocols: [proto("router_198_18_1_1")] },
      ],
    );
    expect(r.lines).toEqual([
      "r3: BGP host3 (198.18.1.13) Established",
      "r3: BGP r1 (10.255.0.1) Established",
      "r3: 1 of 2 VM routes",
      "host3: BGP r3 (198.18.1.1) Established",
    ]);
    expect(r.problems).toEqual(["r3: no route to 10.10.10.31 via host3 (network net1)"]);
  });
});

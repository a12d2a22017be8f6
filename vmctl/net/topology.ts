import { formatTarget } from "../../lib/exec/command.js";
import { type Cluster, type RouterSpec, siteRouters } from "./cluster.js";
import type { StoreData } from "./model.js";

/** A VM as libvirt lists it: enough to put it on its port. */
export interface TopologyVm {
  name: string;
  host: string;
  state: string;
  ip: string | undefined;
}

export interface TopologyPort {
  network: string;
  ip: string;
  dev: string;
  mac: string;
  /** The VM on this port; undefined for a port attached by hand (`vmctl port attach`). */
  vm: string | undefined;
  state: string | undefined;
}

export interface TopologyRoute {
  /** Where it lives: `main` on the router, or a network's table on a host. */
  table: string;
  dst: string;
  /** `via ADDRESS`, `dev BRIDGE`, `unreachable`, `BGP from HOST` ... */
  via: string;
  /** On the router: the host a VM route leads to. */
  host?: string;
}

export interface TopologyRouter {
  name: string;
  address: string;
  target: string;
  lan: string;
  uplink: string;
  site: string;
  gateways: { network: string; gateway: string }[];
  routes: TopologyRoute[];
}

export interface Topology {
  routing: Cluster["routing"];
  routers: TopologyRouter[];
  hosts: {
    name: string;
    site: string;
    address: string;
    target: string;
    lan: string;
    libvirt: string;
    bridges: { network: string; subnet: string; bridge: string; bridgeIp: string; table: number }[];
    ports: TopologyPort[];
    /** vmctl VMs on this host with no port in the store (a create killed half-way, say). */
    unplugged: TopologyVm[];
    routes: TopologyRoute[];
  }[];
}

/**
 * Pure: the fabric as the store wants it (networks, ports, the routes the planners write) with
 * the VMs libvirt reports on each port. What is really on the machines: `vmctl doctor`,
 * `vmctl net show`, `vmctl routes`.
 */
export function buildTopology(cluster: Cluster, data: StoreData, vms: TopologyVm[]): Topology {
  const bgp = cluster.routing === "bgp";
  const hostAddress = (name: string) => cluster.hosts.find((h) => h.name === name)?.address ?? "";
  const router = (r: RouterSpec): TopologyRouter => ({
    name: r.name,
    address: r.address,
    target: formatTarget(r.target),
    lan: r.lan,
    uplink: r.uplink,
    site: r.site,
    gateways: data.networks.map((n) => ({ network: n.name, gateway: n.gateway })),
    routes: [
      ...data.networks.map((n) => ({ table: "main", dst: n.subnet, via: "unreachable" })),
      ...data.ports.map((p) => ({
        table: "main",
        dst: `${p.ip}/32`,
        host: p.host,
        via: bgp
          ? `BGP from ${p.host} (${hostAddress(p.host)})`
          : `via ${hostAddress(p.host)} (${p.host})`,
      })),
      { table: "main", dst: "default", via: `dev ${r.uplink} (NAT for vmctl's subnets)` },
    ],
  });
  return {
    routing: cluster.routing,
    routers: cluster.routers.map(router),
    hosts: cluster.hosts.map((h) => {
      const ports = data.ports
        .filter((p) => p.host === h.name)
        .map((p): TopologyPort => {
          const vm = vms.find((v) => v.host === h.name && v.ip === p.ip);
          return { ...p, vm: vm?.name, state: vm?.state };
        });
      // One route per network table to all of the site's routers (ECMP when there are several).
      const via = siteRouters(cluster, h.site)
        .map((r) => `${r.address} (${r.name})`)
        .join(", ");
      const routes = data.networks.flatMap((n) => [
        { table: String(n.table), dst: n.subnet, via: `via ${via}` },
        { table: String(n.table), dst: "default", via: `via ${via}` },
        ...ports
          .filter((p) => p.network === n.name)
          .map((p) => ({ table: String(n.table), dst: `${p.ip}/32`, via: `dev ${n.bridge}` })),
      ]);
      return {
        name: h.name,
        site: h.site,
        address: h.address,
        target: formatTarget(h.target),
        lan: h.lan,
        libvirt: h.libvirt,
        bridges: data.networks.map((n) => ({
          network: n.name,
          subnet: n.subnet,
          bridge: n.bridge,
          bridgeIp: n.bridgeIp,
          table: n.table,
        })),
        ports,
        unplugged: vms.filter((v) => v.host === h.name && !ports.some((p) => p.vm === v.name)),
        routes,
      };
    }),
  };
}

/** Pure: the topology as indented text, one machine after another. */
export function topologyText(t: Topology): string[] {
  const lines: string[] = [];
  for (const r of t.routers) {
    lines.push(
      `router ${r.name} ${r.address} [${r.target}] site ${r.site}, lan ${r.lan}, uplink ${r.uplink}, routing ${t.routing}`,
    );
    for (const g of r.gateways) lines.push(`  gateway ${g.gateway} (${g.network}) on lo`);
    for (const x of r.routes) lines.push(`  route ${x.dst} ${x.via}`);
  }
  for (const h of t.hosts) {
    lines.push(
      `host ${h.name} ${h.address} [${h.target}] site ${h.site}, lan ${h.lan}, libvirt ${h.libvirt}`,
    );
    for (const b of h.bridges) {
      lines.push(`  ${b.bridge} ${b.network} ${b.subnet} address ${b.bridgeIp}, table ${b.table}`);
      for (const p of h.ports.filter((x) => x.network === b.network)) {
        const who = p.vm ? `${p.vm} (${p.state})` : "(no VM)";
        lines.push(`    ${p.ip} ${who} dev ${p.dev} mac ${p.mac}`);
      }
    }
    for (const v of h.unplugged) lines.push(`  ${v.name} (${v.state}): no port in the store`);
    for (const x of h.routes) lines.push(`  route ${x.dst} table ${x.table} ${x.via}`);
  }
  return lines;
}

import { type Cluster, siteRouters } from "./cluster.js";
import type { RouteState } from "./machine-state.js";
import type { Port } from "./model.js";
import { PROTO } from "./names.js";

/** Route protocol of what BIRD installs in the kernel ("bird" in iproute2's rt_protos). */
export const RTPROT_BIRD = 12;

export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  /** e.g. "Established", "Active        Socket: Connection refused" */
  info: string;
}

/** `birdc show protocols`: a header line, then one line per protocol (Info may hold spaces). */
export function parseBirdProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m || m[1] === "Name" || m[1] === "BIRD") continue;
    out.push({ name: m[1] ?? "", proto: m[2] ?? "", state: m[4] ?? "", info: (m[6] ?? "").trim() });
  }
  return out;
}

/** What `vmctl routes` observed on one machine. */
export interface Observed {
  machine: string;
  /** `birdc show protocols` (routing: bgp); undefined when BIRD does not answer. */
  protocols?: BirdProtocol[] | undefined;
  /** The router's main-table routes (`ip -N -json route show`). */
  routes?: RouteState[];
}

export interface RoutesReport {
  lines: string[];
  /** Sessions not established and VM routes missing on the router: each one line. */
  problems: string[];
}

interface Peer {
  name: string;
  address: string;
  kind: string;
}

/** The BGP sessions a machine should have: a router with its site's hosts, a host with its site's routers. */
export function expectedPeers(cluster: Cluster, machine: string): Peer[] {
  const router = cluster.routers.find((r) => r.name === machine);
  if (router)
    return [
      ...cluster.hosts
        .filter((h) => h.site === router.site)
        .map((h) => ({ name: h.name, address: h.address, kind: "host" })),
      ...cluster.routers
        .filter((r) => r.site !== router.site)
        .map((r) => ({ name: r.name, address: r.tunnelAddress ?? "", kind: "site" })),
    ];
  const host = cluster.hosts.find((h) => h.name === machine);
  return siteRouters(cluster, host?.site ?? "").map((r) => ({
    name: r.name,
    address: r.address,
    kind: "router",
  }));
}

function sessions(cluster: Cluster, o: Observed): { lines: string[]; problems: string[] } {
  const isRouter = cluster.routers.some((r) => r.name === o.machine);
  if (o.protocols === undefined) {
    const fix = isRouter ? `vmctl router apply ${o.machine}` : `vmctl host apply ${o.machine}`;
    return { lines: [], problems: [`${o.machine}: BIRD does not answer (run: ${fix})`] };
  }
  const lines: string[] = [];
  const problems: string[] = [];
  for (const p of expectedPeers(cluster, o.machine)) {
    const proto = `${p.kind}_${p.address.replaceAll(".", "_")}`;
    const s = o.protocols.find((x) => x.name === proto);
    const state = s?.info.split(/\s{2,}/)[0] || s?.state || "missing";
    lines.push(`${o.machine}: BGP ${p.name} (${p.address}) ${state}`);
    if (state !== "Established")
      problems.push(`${o.machine}: BGP session with ${p.name} is ${state}`);
  }
  return { lines, problems };
}

/**
 * The gateways a router may reach a VM by: its host when the host is in the router's site,
 * else the tunnel address of a router of the host's site.
 */
function viaFor(cluster: Cluster, machine: string, p: Port): string[] {
  const host = cluster.hosts.find((h) => h.name === p.host);
  const router = cluster.routers.find((r) => r.name === machine);
  if (!host) return [];
  if (!router || router.site === host.site) return [host.address];
  return siteRouters(cluster, host.site).map((r) => r.tunnelAddress ?? "");
}

/**
 * Per machine: BGP session states (routing: bgp) and, on each router, which VM /32s it holds
 * (from BIRD with bgp, vmctl's own with static) against the ports in the store.
 */
export function routesReport(cluster: Cluster, ports: Port[], observed: Observed[]): RoutesReport {
  const bgp = cluster.routing === "bgp";
  const lines: string[] = [];
  const problems: string[] = [];
  for (const o of observed) {
    if (bgp) {
      const s = sessions(cluster, o);
      lines.push(...s.lines);
      problems.push(...s.problems);
    }
    if (o.routes === undefined) continue;
    const proto = bgp ? RTPROT_BIRD : PROTO;
    const held = new Map(
      o.routes
        .filter((r) => r.table === 254 && r.proto === proto && r.dst.endsWith("/32"))
        .map((r) => [r.dst.slice(0, -3), r.nexthops ?? (r.gateway ? [r.gateway] : [])]),
    );
    const missing = ports.filter((p) => {
      const via = viaFor(cluster, o.machine, p);
      const got = held.get(p.ip);
      return !got || got.length === 0 || !got.every((g) => via.includes(g));
    });
    lines.push(`${o.machine}: ${ports.length - missing.length} of ${ports.length} VM routes`);
    for (const p of missing)
      problems.push(`${o.machine}: no route to ${p.ip} via ${p.host} (network ${p.network})`);
  }
  return { lines, problems };
}

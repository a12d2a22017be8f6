import { AppError } from "../../lib/errors.js";
import type { Command } from "../../lib/exec/command.js";
import type { HostSpec } from "./cluster.js";
import { parseCidr } from "./ipv4.js";
import type { MachineState } from "./machine-state.js";
import type { Network, Port } from "./model.js";
import { BRIDGE_ALIAS, LOCAL_RULE_OFFSET, METADATA_IP, PROTO } from "./names.js";
import {
  conf,
  type Item,
  ip,
  neigh,
  type Plan,
  plan,
  type RouteSpec,
  routeItem,
  type SysctlSpec,
  staleRoutes,
  sysctlItem,
} from "./plan-items.js";

export interface HostDesired {
  host: HostSpec;
  /** The LAN addresses of the routers of the host's site (one or more). */
  routerAddresses: string[];
  /**
   * routing: bgp: the metric of the routes to the routers, so that BIRD's (metric 32, over the
   * routers it has a live session with) win while these stay for when BIRD is not running.
   */
  fallbackMetric?: number;
  networks: Network[];
  /** Ports on this host. */
  ports: Port[];
}

/** sysctl keys the host planner compares (read them before planning). */
export function hostSysctlKeys(d: HostDesired): string[] {
  return [...machineSysctls(d), ...d.networks.flatMap(networkSysctls)].map((s) => s.key);
}

/**
 * Machine-wide settings. They are set while any network exists and deliberately left in place
 * when the last one goes: other services on the host may rely on forwarding by then.
 */
function machineSysctls(d: HostDesired): SysctlSpec[] {
  if (d.networks.length === 0) return [];
  const lan = d.host.lan;
  const s = (key: string, value: string): SysctlSpec => ({ network: undefined, key, value });
  return [
    s("net.ipv4.ip_forward", "1"),
    // Loose: VM sources arrive on bridges while their /24 is reached via the LAN (docs/fabric.md pitfall 11).
    ...["all", "default", lan].map((i) => s(conf(i, "rp_filter"), "2")),
    // The effective value is all OR interface, so all three must be 0 (docs/fabric.md pitfall 8).
    ...["all", "default", lan].map((i) => s(conf(i, "send_redirects"), "0")),
    // Every host has the same bridge address and 169.254.169.254: only answer ARP for
    // addresses on the LAN interface itself (docs/fabric.md pitfall 6).
    s(conf(lan, "arp_ignore"), "1"),
    s(conf(lan, "arp_announce"), "2"),
  ];
}

function networkSysctls(n: Network): SysctlSpec[] {
  const s = (key: string, value: string): SysctlSpec => ({ network: n.name, key, value });
  return [
    s(conf(n.bridge, "proxy_arp"), "1"),
    // The kernel delays proxied ARP replies by up to 0.8 s by default (docs/fabric.md pitfall 4).
    s(neigh(n.bridge, "proxy_delay"), "0"),
    s(conf(n.bridge, "send_redirects"), "0"),
  ];
}

/**
 * The /32 of a VM on its host, `scope link` on the bridge in the network's table: without it
 * proxy ARP answers for local VMs too and same-host traffic hairpins through the router
 * (docs/fabric.md pitfall 3). The planner and the port API both build it here.
 */
export function hostPortRoute(n: Network, ip: string): RouteSpec {
  return { table: n.table, type: "unicast", dst: `${ip}/32`, dev: n.bridge, scope: "link" };
}

/**
 * The way to the routers: one gateway, or with several routers an ECMP route over all of them
 * (flows are hashed over the routers; docs/fabric.md "Several routers").
 */
function routerVia(d: HostDesired): Pick<RouteSpec, "gateway" | "nexthops" | "dev"> {
  const [one, ...more] = d.routerAddresses;
  if (one === undefined || more.length === 0)
    return one === undefined ? { dev: d.host.lan } : { gateway: one, dev: d.host.lan };
  return { nexthops: d.routerAddresses, dev: d.host.lan };
}

/** Above BIRD's default kernel metric (32). */
export const FALLBACK_METRIC = 1000;

export function hostRouteSpecs(d: HostDesired, n: Network): RouteSpec[] {
  const via = { ...routerVia(d), ...(d.fallbackMetric ? { metric: d.fallbackMetric } : {}) };
  return [
    { table: n.table, type: "unicast", dst: n.subnet, ...via },
    { table: n.table, type: "unicast", dst: "default", ...via },
    ...d.ports.filter((p) => p.network === n.name).map((p) => hostPortRoute(n, p.ip)),
  ];
}

interface RuleSpec {
  pref: number;
  iif: string | undefined;
  dst: string | undefined;
  table: number;
}

/**
 * What VMs send goes by the network's table; so does what the host itself sends to the subnet:
 * the connected route in main would put replies to remote VMs into this host's bridge, where
 * they die (docs/fabric.md pitfall 10). Local VMs stay on the bridge via their /32s in the table.
 */
export function networkRules(n: Network): RuleSpec[] {
  return [
    { pref: n.rulePref, iif: n.bridge, dst: undefined, table: n.table },
    { pref: n.rulePref + LOCAL_RULE_OFFSET, iif: "lo", dst: n.subnet, table: n.table },
  ];
}

function sameRule(a: RuleSpec, b: RuleSpec): boolean {
  return a.pref === b.pref && a.iif === b.iif && a.dst === b.dst && a.table === b.table;
}

function ruleArgs(r: RuleSpec): string[] {
  return [
    "pref",
    String(r.pref),
    ...(r.dst ? ["to", r.dst] : []),
    ...(r.iif ? ["iif", r.iif] : []),
    "lookup",
    String(r.table),
    "protocol",
    String(PROTO),
  ];
}

function networkItems(d: HostDesired, n: Network, cur: MachineState): Item[] {
  const link = cur.links.find((l) => l.name === n.bridge);
  if (link && link.alias !== BRIDGE_ALIAS)
    throw new AppError("CONFLICT", `${d.host.name}: ${n.bridge} exists and was not made by vmctl`);
  const prefix = parseCidr(n.subnet)?.prefix ?? 24;
  const has = (dev: string, cidr: string) =>
    cur.addrs.some((a) => a.dev === dev && a.cidr === cidr);
  const addr = (cidr: string): Item => ({
    network: n.name,
    what: `address ${cidr} on ${n.bridge}`,
    present: has(n.bridge, cidr),
    command: ip("addr", "replace", cidr, "dev", n.bridge),
    undo: ip("addr", "del", cidr, "dev", n.bridge),
  });
  return [
    {
      network: n.name,
      what: `bridge ${n.bridge}`,
      present: link !== undefined,
      command: ip("link", "add", n.bridge, "type", "bridge"),
      undo: ip("link", "del", n.bridge),
    },
    {
      network: n.name,
      what: `bridge ${n.bridge} address ${n.mac}, up`,
      present: link !== undefined && link.mac === n.mac && link.up,
      command: ip("link", "set", "dev", n.bridge, "address", n.mac, "alias", BRIDGE_ALIAS, "up"),
    },
    ...networkSysctls(n).map((spec) => sysctlItem(cur, spec)),
    addr(`${n.bridgeIp}/${prefix}`),
    addr(`${METADATA_IP}/32`),
    ...hostRouteSpecs(d, n).map((spec) => routeItem(cur, n.name, spec)),
    ...networkRules(n).map(
      (rule): Item => ({
        network: n.name,
        what: `rule ${ruleArgs(rule).join(" ")}`,
        present: cur.rules.some((r) => sameRule(r, rule) && r.proto === PROTO),
        command: ip("rule", "add", ...ruleArgs(rule)),
        undo: ip("rule", "del", ...ruleArgs(rule)),
      }),
    ),
  ];
}

function hostItems(d: HostDesired, cur: MachineState): Item[] {
  return [
    ...machineSysctls(d).map((spec) => sysctlItem(cur, spec)),
    ...d.networks.flatMap((n) => networkItems(d, n, cur)),
  ];
}

/** Everything vmctl made on this host that the store no longer wants: rules, routes, bridges. */
function hostRemovals(d: HostDesired, cur: MachineState): Command[] {
  const wantedRules = d.networks.flatMap(networkRules);
  const rules = cur.rules
    .filter((r) => r.proto === PROTO && !wantedRules.some((w) => sameRule(w, r)))
    .map((r) => ip("rule", "del", ...ruleArgs(r)));
  const routes = staleRoutes(
    cur,
    d.networks.flatMap((n) => hostRouteSpecs(d, n)),
  );
  const bridges = cur.links
    .filter((l) => l.alias === BRIDGE_ALIAS && !d.networks.some((n) => n.bridge === l.name))
    .map((l) => ip("link", "del", l.name));
  return [...rules, ...routes, ...bridges];
}

/** plan(desired, current): the commands that bring the host to the desired state, nothing more. */
export function planHost(d: HostDesired, cur: MachineState): Plan {
  return plan(hostRemovals(d, cur), hostItems(d, cur));
}

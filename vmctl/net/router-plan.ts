import { type Command, cmd } from "../../lib/exec/command.js";
import type { RouterSpec } from "./cluster.js";
import type { MachineState } from "./machine-state.js";
import type { Network, Port } from "./model.js";
import { IPSET, IPTABLES_COMMENT, LINK_LOCAL, LO_LABEL } from "./names.js";
import {
  conf,
  type Item,
  ip,
  MAIN_TABLE,
  type Plan,
  plan,
  type RouteSpec,
  routeItem,
  type SysctlSpec,
  staleRoutes,
  sysctlItem,
} from "./plan-items.js";

export interface RouterPort extends Port {
  /** LAN address of the host the port is on: the /32's next hop. */
  hostAddress: string;
}

export interface RouterDesired {
  router: RouterSpec;
  networks: Network[];
  ports: RouterPort[];
}

/** sysctl keys the router planner compares (read them before planning). */
export function routerSysctlKeys(d: RouterDesired): string[] {
  return routerSysctls(d).map((s) => s.key);
}

function routerSysctls(d: RouterDesired): SysctlSpec[] {
  if (d.networks.length === 0) return [];
  const r = d.router;
  const s = (key: string, value: string): SysctlSpec => ({ network: undefined, key, value });
  return [
    s("net.ipv4.ip_forward", "1"),
    ...["all", "default", r.lan, r.uplink].map((i) => s(conf(i, "send_redirects"), "0")),
    ...["all", r.lan].map((i) => s(conf(i, "rp_filter"), "1")),
  ];
}

/** A VM's /32 on the router, via its host: the planner and the port API both build it here. */
export function routerPortRoute(router: RouterSpec, port: RouterPort): RouteSpec {
  return {
    table: MAIN_TABLE,
    type: "unicast",
    dst: `${port.ip}/32`,
    gateway: port.hostAddress,
    dev: router.lan,
  };
}

function iptables(...args: string[]): Command {
  return cmd("iptables", ["-w", "-t", "nat", ...args], true);
}

export function routerRouteSpecs(d: RouterDesired): RouteSpec[] {
  if (d.networks.length === 0) return [];
  return [
    // Packets for unknown or deleted VMs must not follow the default route out (docs/fabric.md pitfall 2).
    ...d.networks.map(
      (n): RouteSpec => ({ table: MAIN_TABLE, type: "unreachable", dst: n.subnet }),
    ),
    { table: MAIN_TABLE, type: "unreachable", dst: LINK_LOCAL },
    ...d.ports.map((p) => routerPortRoute(d.router, p)),
  ];
}

function routerItems(d: RouterDesired, cur: MachineState): Item[] {
  if (d.networks.length === 0) return [];
  const lo = cur.links.find((l) => l.name === "lo");
  const routes = routerRouteSpecs(d);
  const netOf = (dst: string) =>
    d.networks.find((n) => n.subnet === dst)?.name ??
    d.ports.find((p) => `${p.ip}/32` === dst)?.network;
  return [
    ...routerSysctls(d).map((spec) => sysctlItem(cur, spec)),
    {
      network: undefined,
      what: "loopback up",
      present: lo?.up ?? false,
      command: ip("link", "set", "dev", "lo", "up"),
    },
    ...d.networks.map(
      (n): Item => ({
        network: n.name,
        what: `gateway ${n.gateway}/32 on lo`,
        present: cur.addrs.some((a) => a.dev === "lo" && a.cidr === `${n.gateway}/32`),
        command: ip("addr", "replace", `${n.gateway}/32`, "dev", "lo", "label", LO_LABEL),
        undo: ip("addr", "del", `${n.gateway}/32`, "dev", "lo"),
      }),
    ),
    ...routes.map((spec) => routeItem(cur, netOf(spec.dst), spec)),
  ];
}

/**
 * What vmctl made on the router that the store no longer wants. Older vmctl versions masqueraded
 * with iptables and an ipset (NAT is nftables now: router-firewall.ts): their rule and set go
 * on every apply (the migration), the rule before the set it references.
 */
function routerRemovals(d: RouterDesired, cur: MachineState): Command[] {
  const natRules = cur.natRules
    .filter((l) => l.includes(`--comment ${IPTABLES_COMMENT} `))
    .map((l) => iptables("-D", ...l.split(" ").slice(1)));
  const setDestroy = cur.ipsets[IPSET] ? [cmd("ipset", ["destroy", IPSET], true)] : [];
  const addrs = cur.addrs
    .filter(
      (a) =>
        a.dev === "lo" &&
        a.label === LO_LABEL &&
        (d.networks.length === 0 || !d.networks.some((n) => `${n.gateway}/32` === a.cidr)),
    )
    .map((a) => ip("addr", "del", a.cidr, "dev", "lo"));
  const routes = staleRoutes(cur, routerRouteSpecs(d));
  return [...routes, ...addrs, ...natRules, ...setDestroy];
}

export function planRouter(d: RouterDesired, cur: MachineState): Plan {
  return plan(routerRemovals(d, cur), routerItems(d, cur));
}

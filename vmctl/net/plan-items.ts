import { type Command, cmd } from "../../lib/exec/command.js";
import type { MachineState, RouteState } from "./machine-state.js";
import { PROTO } from "./names.js";

/**
 * One thing a machine should have. `present` says whether it is there now; `command` adds it;
 * `undo` reverses that command when a later one fails (rollback). `net show` prints items,
 * the planners turn the absent ones into commands.
 */
export interface Item {
  /** The network it belongs to; undefined for machine-wide settings. */
  network: string | undefined;
  what: string;
  present: boolean;
  command: Command;
  undo?: Command;
}

export interface Step {
  command: Command;
  undo?: Command;
}

/** One machine's plan: every item with whether it is in place (net show), and the steps. */
export interface Plan {
  items: Item[];
  steps: Step[];
}

export const MAIN_TABLE = 254;

/** The removals first, then the commands of the items that are not in place. */
export function plan(removals: Command[], items: Item[]): Plan {
  return {
    items,
    steps: [
      ...removals.map((command) => ({ command })),
      ...items.filter((i) => !i.present).map(stepOf),
    ],
  };
}

export function stepOf(i: { command: Command; undo?: Command }): Step {
  return i.undo ? { command: i.command, undo: i.undo } : { command: i.command };
}

export function ip(...args: string[]): Command {
  return cmd("ip", args, true);
}

/**
 * sysctl key of a per-interface setting. A dot in an interface name (VLAN `eth0.100`) is
 * written as `/`, which is how sysctl both accepts and prints it.
 */
export function conf(iface: string, leaf: string): string {
  return `net.ipv4.conf.${iface.replaceAll(".", "/")}.${leaf}`;
}

export function neigh(iface: string, leaf: string): string {
  return `net.ipv4.neigh.${iface.replaceAll(".", "/")}.${leaf}`;
}

export const NO_STATE: MachineState = {
  links: [],
  addrs: [],
  routes: [],
  rules: [],
  sysctls: {},
  ipsets: {},
  natRules: [],
};

/** A sysctl a machine should have; the planners list them as data, so they can be read first. */
export interface SysctlSpec {
  /** The network it belongs to; undefined for machine-wide settings. */
  network: string | undefined;
  key: string;
  value: string;
}

export function sysctlItem(cur: MachineState, { network, key, value }: SysctlSpec): Item {
  const old = cur.sysctls[key];
  const item: Item = {
    network,
    what: `sysctl ${key}=${value}`,
    present: old === value,
    command: cmd("sysctl", ["-w", `${key}=${value}`], true),
  };
  if (old !== undefined) item.undo = cmd("sysctl", ["-w", `${key}=${old}`], true);
  return item;
}

export interface RouteSpec {
  table: number;
  type: "unicast" | "unreachable";
  dst: string;
  gateway?: string;
  /** Several gateways on `dev`: an ECMP route (the kernel spreads flows over them). */
  nexthops?: string[];
  dev?: string;
  scope?: "link";
  /** Omitted = 0. A higher one lets a better route (BIRD's) win while this one stays. */
  metric?: number;
}

function tableArgs(table: number): string[] {
  return table === MAIN_TABLE ? [] : ["table", String(table)];
}

function typeArgs(type: string): string[] {
  return type === "unicast" ? [] : [type];
}

/** Host routes are written without /32, as `ip` prints them. */
function dstArg(dst: string): string {
  return dst.endsWith("/32") ? dst.slice(0, -3) : dst;
}

function metricArgs(metric: number | undefined): string[] {
  return metric ? ["metric", String(metric)] : [];
}

export function routeMatches(r: RouteState, spec: RouteSpec): boolean {
  return (
    r.table === spec.table &&
    r.type === spec.type &&
    r.dst === spec.dst &&
    (r.metric ?? 0) === (spec.metric ?? 0)
  );
}

function sameNexthops(r: RouteState, spec: RouteSpec): boolean {
  if (!spec.nexthops) return r.nexthops === undefined && r.gateway === spec.gateway;
  return r.nexthops?.join(" ") === spec.nexthops.join(" ");
}

/** `via G dev D`, or for ECMP nothing here: `nexthop` clauses must come last (multipathArgs). */
function viaArgs(spec: RouteSpec): string[] {
  if (spec.nexthops) return [];
  return [...(spec.gateway ? ["via", spec.gateway] : []), ...(spec.dev ? ["dev", spec.dev] : [])];
}

function multipathArgs(spec: RouteSpec): string[] {
  const dev = spec.dev ? ["dev", spec.dev] : [];
  return (spec.nexthops ?? []).flatMap((g) => ["nexthop", "via", g, ...dev]);
}

export function routeItem(cur: MachineState, network: string | undefined, spec: RouteSpec): Item {
  const args = [
    ...typeArgs(spec.type),
    dstArg(spec.dst),
    ...viaArgs(spec),
    ...tableArgs(spec.table),
    ...metricArgs(spec.metric),
    "proto",
    String(PROTO),
    ...(spec.scope ? ["scope", spec.scope] : []),
    ...multipathArgs(spec),
  ];
  const present = cur.routes.some(
    (r) =>
      routeMatches(r, spec) &&
      r.proto === PROTO &&
      sameNexthops(r, spec) &&
      (spec.dev === undefined || spec.nexthops !== undefined || r.dev === spec.dev),
  );
  return {
    network,
    what: `route ${args.join(" ")}`,
    present,
    command: ip("route", "replace", ...args),
    // The undo names the route exactly as added: only that one goes, not another to the same dst.
    undo: ip("route", "del", ...args),
  };
}

export function routeDel(r: {
  table: number;
  type: string;
  dst: string;
  metric?: number;
}): Command {
  return ip(
    "route",
    "del",
    ...typeArgs(r.type),
    dstArg(r.dst),
    ...tableArgs(r.table),
    ...metricArgs(r.metric),
    "proto",
    String(PROTO),
  );
}

/** Our routes (proto PROTO) that no spec wants any more. Other routes are never touched. */
export function staleRoutes(cur: MachineState, wanted: RouteSpec[]): Command[] {
  return cur.routes
    .filter((r) => r.proto === PROTO && !wanted.some((w) => routeMatches(r, w)))
    .map(routeDel);
}

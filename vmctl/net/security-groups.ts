import { AppError } from "../../lib/errors.js";
import { checkGroupName, findIpGroup, parseGroupCidr } from "./ip-groups.js";
import { formatCidr } from "./ipv4.js";
import type { Direction, Port, RuleProto, SecurityGroup, SgRule, StoreData } from "./model.js";
import { DEFAULT_GROUP_PREFIX } from "./names.js";

/**
 * Security groups (docs/security-groups.md): AWS semantics — allow-only, stateful, per VM
 * interface, rules may name CIDRs, other groups (`sg:NAME`: their members' addresses) and IP
 * groups (`ipg:NAME`). Pure functions on the store, like ip-groups.ts.
 */

function invalid(message: string): AppError {
  return new AppError("INVALID", message);
}

export function defaultGroupName(network: string): string {
  return `${DEFAULT_GROUP_PREFIX}${network}`;
}

/**
 * A network's default group: ingress from its own members, every egress — what ports attached
 * without --sg get, so they behave as before security groups (VMs of the network reach each
 * other, everything outgoing works).
 */
export function defaultGroup(network: string): SecurityGroup {
  const name = defaultGroupName(network);
  return {
    name,
    network,
    rules: [
      { direction: "ingress", proto: "any", peer: `sg:${name}` },
      { direction: "egress", proto: "any", peer: "0.0.0.0/0" },
    ],
  };
}

/**
 * Every group: the stored ones, plus each network's default group while the store holds no
 * edited copy of it. A default group whose network is gone is dropped.
 */
export function allGroups(data: StoreData): SecurityGroup[] {
  const nets = new Set(data.networks.map((n) => n.name));
  const stored = data.securityGroups.filter((g) => g.network === undefined || nets.has(g.network));
  const defaults = data.networks
    .filter((n) => !stored.some((g) => g.network === n.name))
    .map((n) => defaultGroup(n.name));
  return [...stored, ...defaults].sort((a, b) => a.name.localeCompare(b.name));
}

export function findGroup(data: StoreData, name: string): SecurityGroup {
  const g = allGroups(data).find((x) => x.name === name);
  if (!g) throw new AppError("NOT_FOUND", `no security group named ${name} (see: vmctl sg list)`);
  return g;
}

/** The groups a port is in: its own list, or its network's default group. */
export function portGroups(p: Port): string[] {
  return p.groups?.length ? p.groups : [defaultGroupName(p.network)];
}

/** Stores `group` (a default group becomes a stored copy the first time it is edited). */
function put(data: StoreData, group: SecurityGroup): StoreData {
  const rest = data.securityGroups.filter((g) => g.name !== group.name);
  return { ...data, securityGroups: [...rest, group] };
}

export function createGroup(data: StoreData, name: string): StoreData {
  checkGroupName("security group", name);
  if (name.startsWith(DEFAULT_GROUP_PREFIX))
    throw invalid(
      `security group names starting with "${DEFAULT_GROUP_PREFIX}" are the networks' default groups; choose another name`,
    );
  if (allGroups(data).some((g) => g.name === name))
    throw new AppError("EXISTS", `security group ${name} already exists`);
  return put(data, { name, rules: [] });
}

/** Who uses a group: ports that list it, rules that reference it. */
export function groupUsers(data: StoreData, name: string): string[] {
  const ports = data.ports
    .filter((p) => portGroups(p).includes(name))
    .map((p) => `port ${p.network}:${p.ip}`);
  const rules = allGroups(data)
    .filter((g) => g.name !== name && g.rules.some((r) => r.peer === `sg:${name}`))
    .map((g) => `rules of security group ${g.name}`);
  return [...ports, ...rules];
}

export function deleteGroup(data: StoreData, name: string): StoreData {
  const g = findGroup(data, name);
  if (g.network !== undefined)
    throw invalid(`${name} is network ${g.network}'s default group; it goes with the network`);
  const users = groupUsers(data, name);
  if (users.length)
    throw new AppError(
      "IN_USE",
      `security group ${name} is used by ${users.slice(0, 5).join(", ")}${users.length > 5 ? ` and ${users.length - 5} more` : ""}; detach or remove those first`,
    );
  return { ...data, securityGroups: data.securityGroups.filter((x) => x.name !== name) };
}

export interface RuleRequest {
  direction: Direction;
  proto: string;
  port?: string;
  peer: string;
}

const PROTOS: readonly RuleProto[] = ["tcp", "udp", "icmp", "any"];

function parsePorts(text: string): { from: number; to: number } {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const from = Number(m?.[1]);
  const to = m?.[2] === undefined ? from : Number(m[2]);
  if (!m || from < 1 || to > 65535 || from > to)
    throw invalid(`--port ${text}: give a port 1-65535 or a range N-M with N <= M`);
  return { from, to };
}

/** `sg:NAME`, `ipg:NAME` (they must exist) or a CIDR (normalised). */
function parsePeer(data: StoreData, text: string, flag: string): string {
  if (text.startsWith("sg:")) return `sg:${findGroup(data, text.slice(3)).name}`;
  if (text.startsWith("ipg:")) return `ipg:${findIpGroup(data, text.slice(4)).name}`;
  return formatCidr(parseGroupCidr(text, flag));
}

export function parseRule(data: StoreData, req: RuleRequest): SgRule {
  const proto = req.proto as RuleProto;
  if (!PROTOS.includes(proto)) throw invalid(`--proto ${req.proto}: use tcp, udp, icmp or any`);
  if (req.port !== undefined && (proto === "icmp" || proto === "any"))
    throw invalid(`--port applies to tcp and udp only, not --proto ${proto}`);
  const flag = req.direction === "ingress" ? "--from" : "--to";
  return {
    direction: req.direction,
    proto,
    ...(req.port !== undefined ? { ports: parsePorts(req.port) } : {}),
    peer: parsePeer(data, req.peer, flag),
  };
}

/** The rule as `sg show` prints it and `sg rule add` takes it. */
export function describeRule(r: SgRule): string {
  const ports = r.ports
    ? ` --port ${r.ports.from}${r.ports.to !== r.ports.from ? `-${r.ports.to}` : ""}`
    : "";
  return `--${r.direction} --proto ${r.proto}${ports} --${r.direction === "ingress" ? "from" : "to"} ${r.peer}`;
}

/** Whether two rules of one group let some packet through both (same direction and peer). */
function overlap(a: SgRule, b: SgRule): boolean {
  if (a.direction !== b.direction || a.peer !== b.peer) return false;
  if (a.proto === "any" || b.proto === "any") return true;
  if (a.proto !== b.proto) return false;
  if (!a.ports || !b.ports) return true;
  return a.ports.from <= b.ports.to && b.ports.from <= a.ports.to;
}

export function addRule(data: StoreData, name: string, req: RuleRequest): StoreData {
  const g = findGroup(data, name);
  const rule = parseRule(data, req);
  const clash = g.rules.find((r) => overlap(r, rule));
  if (clash)
    throw invalid(
      describeRule(clash) === describeRule(rule)
        ? `security group ${name} already has the rule ${describeRule(rule)}`
        : `rule ${describeRule(rule)} overlaps ${name}'s rule ${describeRule(clash)}; delete that one or add a rule that does not overlap`,
    );
  return put(data, { ...g, rules: [...g.rules, rule] });
}

export function deleteRule(data: StoreData, name: string, req: RuleRequest): StoreData {
  const g = findGroup(data, name);
  const text = describeRule(parseRule(data, req));
  if (!g.rules.some((r) => describeRule(r) === text))
    throw invalid(`security group ${name} has no rule ${text} (see: vmctl sg show ${name})`);
  return put(data, { ...g, rules: g.rules.filter((r) => describeRule(r) !== text) });
}

/** Checks a --sg list: each group exists, none twice. */
export function checkGroupList(data: StoreData, names: string[]): string[] {
  const seen = new Set<string>();
  for (const n of names) {
    findGroup(data, n);
    if (seen.has(n)) throw invalid(`--sg ${names.join(",")}: ${n} is listed twice`);
    seen.add(n);
  }
  return names;
}

/**
 * A port by what the user knows: its VM's name, `NETWORK:IP`, or its interface name.
 * Exactly one port must match.
 */
export function findPort(data: StoreData, ref: string): Port {
  const colon = ref.indexOf(":");
  const matches =
    colon > 0
      ? data.ports.filter((p) => p.network === ref.slice(0, colon) && p.ip === ref.slice(colon + 1))
      : data.ports.filter((p) => p.vm === ref || p.dev === ref);
  const [only, ...more] = matches;
  if (!only)
    throw new AppError(
      "NOT_FOUND",
      `no VM port ${ref} (give a VM name, NETWORK:IP or the interface)`,
    );
  if (more.length) throw invalid(`${ref} names ${matches.length} ports; give NETWORK:IP instead`);
  return only;
}

function setPortGroups(data: StoreData, port: Port, groups: string[]): StoreData {
  return { ...data, ports: data.ports.map((p) => (p === port ? { ...p, groups } : p)) };
}

export function attachGroup(data: StoreData, ref: string, name: string): StoreData {
  const port = findPort(data, ref);
  findGroup(data, name);
  const have = portGroups(port);
  if (have.includes(name)) throw invalid(`${ref} is already in security group ${name}`);
  return setPortGroups(data, port, [...have, name]);
}

export function detachGroup(data: StoreData, ref: string, name: string): StoreData {
  const port = findPort(data, ref);
  findGroup(data, name);
  const have = portGroups(port);
  if (!have.includes(name)) throw invalid(`${ref} is not in security group ${name}`);
  if (have.length === 1)
    throw invalid(`${name} is ${ref}'s only security group; attach another one first`);
  return setPortGroups(
    data,
    port,
    have.filter((g) => g !== name),
  );
}

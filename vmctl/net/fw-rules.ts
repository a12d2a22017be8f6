import { AppError } from "../../lib/errors.js";
import { findIpGroup } from "./ip-groups.js";
import { formatCidr, parseCidrInput } from "./ipv4.js";
import type { FwRule, StoreData } from "./model.js";
import { ipgSet } from "./sg-rules.js";

/**
 * Perimeter rules between networks (and CIDRs), enforced at the router: their validation, their
 * nft text, their one-line description. The rules live in the store in order.
 */
export type FwRequest = Omit<FwRule, "id">;

function invalid(message: string): AppError {
  return new AppError("INVALID", message);
}

/**
 * An endpoint as the router matches it: a network's subnet or a CIDR as given (host bits
 * refused), or `ipg:NAME`, an IP group (it must exist), matched as the set of its CIDRs.
 */
export function endpointKey(data: StoreData, text: string): string {
  const net = data.networks.find((n) => n.name === text);
  if (net) return net.subnet;
  if (text.startsWith("ipg:")) return `ipg:${findIpGroup(data, text.slice(4)).name}`;
  const otherwise =
    "is neither a network (see: vmctl net list), an IP group (ipg:NAME) nor an IPv4 CIDR";
  return formatCidr(parseCidrInput(text, { label: text, otherwise, single: true }));
}

/** The IP groups a rule names (their sets live in the router's table while a rule uses them). */
export function fwRuleIpGroups(r: FwRule): string[] {
  return [r.from, r.to].filter((e) => e.startsWith("ipg:")).map((e) => e.slice(4));
}

function endpointMatch(data: StoreData, text: string, field: "saddr" | "daddr"): string {
  const key = endpointKey(data, text);
  return key.startsWith("ipg:") ? `ip ${field} @${ipgSet(key.slice(4))}` : `ip ${field} ${key}`;
}

/** `5432` or `5000-5010`. */
export function parsePorts(text: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2] ?? m?.[1]);
  if (!m || lo < 1 || hi > 65535 || lo > hi)
    throw invalid(`--port ${text}: a port 1-65535 or a range N-M with N <= M`);
  return [lo, hi];
}

const sameMatch = (a: FwRequest, b: FwRequest) =>
  a.from === b.from &&
  a.to === b.to &&
  a.proto === b.proto &&
  a.ports?.[0] === b.ports?.[0] &&
  a.ports?.[1] === b.ports?.[1];

/** Checks a new rule against the store: endpoints exist, no repeat, no contradiction. */
export function checkFwRule(data: StoreData, r: FwRequest): void {
  const from = endpointKey(data, r.from);
  const to = endpointKey(data, r.to);
  if (r.ports && (r.proto === "icmp" || r.proto === "any"))
    throw invalid(`--port needs --proto tcp or udp (not ${r.proto})`);
  if (from === to)
    throw invalid(
      `${r.from} to ${r.to}: traffic inside one network is always allowed; give two different endpoints`,
    );
  for (const o of data.firewall ?? []) {
    if (!sameMatch(o, r)) continue;
    throw new AppError(
      o.action === r.action ? "EXISTS" : "CONFLICT",
      o.action === r.action
        ? `rule #${o.id} already says this (${describeFwRule(o)})`
        : `rule #${o.id} says the opposite (${describeFwRule(o)}); delete it first (vmctl fw del ${o.id})`,
    );
  }
}

export function describeFwRule(r: FwRule): string {
  const ports = r.ports
    ? ` port ${r.ports[0] === r.ports[1] ? r.ports[0] : r.ports.join("-")}`
    : "";
  return `${r.action} ${r.from} -> ${r.to} ${r.proto}${ports}`;
}

/** The rule in the router's `from_vm` chain. */
export function fwRuleNft(data: StoreData, r: FwRule): string {
  const match = [endpointMatch(data, r.from, "saddr"), endpointMatch(data, r.to, "daddr")];
  if (r.proto !== "any") match.push(`meta l4proto ${r.proto}`);
  if (r.ports) {
    const p = r.ports[0] === r.ports[1] ? `${r.ports[0]}` : `${r.ports[0]}-${r.ports[1]}`;
    match.push(`${r.proto} dport ${p}`);
  }
  const verdict = r.action === "allow" ? "accept" : 'counter name "perimeter_denied" drop';
  return `${match.join(" ")} ${verdict}`;
}

/** Networks a rule names (a network in use by a rule cannot be deleted). */
export function fwRuleNetworks(r: FwRule): string[] {
  return [r.from, r.to];
}

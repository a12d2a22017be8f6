import { AppError } from "../../lib/errors.js";
import { type Cidr, formatCidr, overlaps, parseCidr, parseCidrInput } from "./ipv4.js";
import type { IpGroup, StoreData } from "./model.js";
import { isValidGroupName } from "./names.js";

/**
 * IP groups: named sets of outside addresses (`vmctl ipg`), referenced as `ipg:NAME` by
 * security group rules (and perimeter rules). Every function here is pure: it checks a
 * request against the store and returns the next store, or throws one line saying what is
 * wrong; the caller writes the result under the store's lock.
 */

function invalid(message: string): AppError {
  return new AppError("INVALID", message);
}

export function checkGroupName(kind: string, name: string): void {
  if (!isValidGroupName(name))
    throw invalid(`${kind} name "${name}" must match [a-z][a-z0-9-]{0,47}`);
}

/** `10.0.0.0/8`, or one address as a /32; host bits set are refused with the fix. */
export function parseGroupCidr(text: string, what = "CIDR"): Cidr {
  const otherwise = "is not an IPv4 address or CIDR like 198.51.100.0/24";
  return parseCidrInput(text, { label: `${what} ${text}`, otherwise, single: true });
}

/** Parses a list, refusing overlaps among them (an nft interval set cannot hold both). */
function parseList(texts: string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const t of texts) {
    const c = parseGroupCidr(t);
    const clash = out.find((o) => overlaps(o, c));
    if (clash) throw invalid(`CIDR ${t} overlaps ${formatCidr(clash)} given before it`);
    out.push(c);
  }
  return out;
}

function sorted(cidrs: Cidr[]): string[] {
  return [...cidrs].sort((a, b) => a.network - b.network || a.prefix - b.prefix).map(formatCidr);
}

export function findIpGroup(data: StoreData, name: string): IpGroup {
  const g = data.ipGroups.find((x) => x.name === name);
  if (!g) throw new AppError("NOT_FOUND", `no IP group named ${name} (see: vmctl ipg list)`);
  return g;
}

function replace(data: StoreData, group: IpGroup): StoreData {
  return { ...data, ipGroups: data.ipGroups.map((g) => (g.name === group.name ? group : g)) };
}

export function createIpGroup(data: StoreData, name: string, cidrs: string[]): StoreData {
  checkGroupName("IP group", name);
  if (data.ipGroups.some((g) => g.name === name))
    throw new AppError("EXISTS", `IP group ${name} already exists`);
  const group = { name, cidrs: sorted(parseList(cidrs)) };
  return { ...data, ipGroups: [...data.ipGroups, group] };
}

export function addToIpGroup(data: StoreData, name: string, cidrs: string[]): StoreData {
  const g = findIpGroup(data, name);
  if (cidrs.length === 0) throw invalid("give at least one CIDR to add");
  const have = g.cidrs.map((c) => parseCidr(c) as Cidr);
  const add = parseList(cidrs);
  for (const c of add) {
    const clash = have.find((h) => overlaps(h, c));
    if (clash)
      throw invalid(
        formatCidr(clash) === formatCidr(c)
          ? `${formatCidr(c)} is already in IP group ${name}`
          : `${formatCidr(c)} overlaps ${formatCidr(clash)} already in IP group ${name}`,
      );
  }
  return replace(data, { name, cidrs: sorted([...have, ...add]) });
}

export function removeFromIpGroup(data: StoreData, name: string, cidrs: string[]): StoreData {
  const g = findIpGroup(data, name);
  if (cidrs.length === 0) throw invalid("give at least one CIDR to remove");
  const gone = new Set(parseList(cidrs).map(formatCidr));
  for (const c of gone) if (!g.cidrs.includes(c)) throw invalid(`${c} is not in IP group ${name}`);
  return replace(data, { name, cidrs: g.cidrs.filter((c) => !gone.has(c)) });
}

/** What refers to `ipg:NAME`: security group rules and perimeter rules. */
export function ipGroupUsers(data: StoreData, name: string): string[] {
  const ref = `ipg:${name}`;
  return [
    ...data.securityGroups
      .filter((sg) => sg.rules.some((r) => r.peer === ref))
      .map((sg) => `security group ${sg.name}`),
    ...(data.firewall ?? [])
      .filter((r) => r.from === ref || r.to === ref)
      .map((r) => `perimeter rule #${r.id}`),
  ];
}

export function deleteIpGroup(data: StoreData, name: string): StoreData {
  findIpGroup(data, name);
  const users = ipGroupUsers(data, name);
  if (users.length)
    throw new AppError(
      "IN_USE",
      `IP group ${name} is used by ${users.join(", ")}; remove those rules first`,
    );
  return { ...data, ipGroups: data.ipGroups.filter((g) => g.name !== name) };
}

import type { Runner } from "../../lib/exec/runner.js";
import type { SecurityGroup, SgRule, StoreData } from "./model.js";
import * as nft from "./nft-table.js";
import { allGroups, portGroups } from "./security-groups.js";
import { addrSet, groupRule, ipgSet, portsSet, type SgLayout, sgSpec } from "./sg-rules.js";

/** What one host's security group table should hold; undefined = no table (no vmctl bridge). */
export interface SgDesired {
  layout: SgLayout;
  /** Set name → elements as nft input writes them (and as the reader renders the listing). */
  elements: Record<string, string[]>;
}

const q = (dev: string) => `"${dev}"`;

/** What the table's structure depends on in the store: every group, every IP group's name. */
export function sgLayout(data: StoreData): SgLayout {
  return { groups: allGroups(data), ipGroups: data.ipGroups.map((x) => x.name) };
}

/**
 * A host's desired table from the store: its filtered ports (those with a MAC: port security
 * knows them), every group's members here (`p_G`) and everywhere (`a_G`), every IP group, and
 * the fabric's own machines (`hosts`: the bridge addresses and the hosts' and routers' LAN
 * addresses), which always reach VMs.
 */
export function sgDesired(
  data: StoreData,
  host: string,
  machines: string[] = [],
): SgDesired | undefined {
  if (data.networks.length === 0) return undefined;
  const layout = sgLayout(data);
  const nets = new Set(data.networks.map((n) => n.name));
  const ports = data.ports.filter((p) => p.mac && nets.has(p.network));
  const local = ports.filter((p) => p.host === host);
  const elements: Record<string, string[]> = {
    ports: local.map((p) => q(p.dev)),
    hosts: [...new Set([...data.networks.map((n) => n.bridgeIp), ...machines])],
  };
  for (const g of layout.groups) {
    const members = ports.filter((p) => portGroups(p).includes(g.name));
    elements[portsSet(g.name)] = members.filter((p) => p.host === host).map((p) => q(p.dev));
    elements[addrSet(g.name)] = [...new Set(members.map((p) => p.ip))];
  }
  for (const x of data.ipGroups) elements[ipgSet(x.name)] = x.cidrs.map(nft.cidrElement);
  return { layout, elements };
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs (the table
 * keeps its sets: nft-table.ts). Same structure: only the elements that differ (a membership or
 * IP group change). A rule change rewrites the chains; sets whose definition is unchanged keep
 * their elements and the flow sets the flows they track, so connections survive rule changes.
 */
export function planSgNft(
  d: SgDesired | undefined,
  cur: nft.TableState | undefined,
): string | undefined {
  return nft.planTableNft(sgSpec(d?.layout ?? { groups: [], ipGroups: [] }), d?.elements, cur);
}

/** Reads a host's table for planning it towards `data`; undefined when it does not exist. */
export function readSgTable(runner: Runner, data: StoreData): Promise<nft.TableState | undefined> {
  return nft.readTable(runner, sgSpec(sgLayout(data)));
}

/** Whether a group rule's nft rule is in the host's table now. */
export function ruleInPlace(cur: nft.TableState | undefined, g: SecurityGroup, r: SgRule): boolean {
  return nft.rulePresent(cur, r.direction === "ingress" ? "ingress" : "egress", groupRule(g, r));
}

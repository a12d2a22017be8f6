import type { Runner } from "../../lib/exec/runner.js";
import type { RouterSpec } from "./cluster.js";
import { describeFwRule, fwRuleIpGroups, fwRuleNft } from "./fw-rules.js";
import type { FwRule, IpGroup, Network, StoreData } from "./model.js";
import * as nft from "./nft-table.js";
import type { Item, Step } from "./plan-items.js";
import { ipgSet } from "./sg-rules.js";

/**
 * The router's firewall and NAT, in `table ip vmctl_router` (replacing the iptables MASQUERADE
 * rule and the ipset of older vmctl versions, which router apply removes):
 * - input: from a VM address the router accepts only replies to what it sent and ICMP echo to
 *   the VM's own gateway (routing needs nothing else from VMs: no routing protocol runs towards
 *   them);
 * - forward: replies (ct state established,related) pass; VM traffic within its own network
 *   passes (same network across hosts goes through the router); then the perimeter rules in
 *   order; then internet egress by the uplink for networks that have it; everything else from
 *   a VM is dropped (networks are isolated by default). New connections from the uplink to VMs
 *   are dropped; traffic that is not from a VM (hosts reaching VMs, say) is not this table's
 *   business and passes;
 * - postrouting: masquerade what leaves by the uplink from networks with internet, never
 *   VM→VM traffic (docs/fabric.md pitfall 1: `ip daddr != @nets`).
 * Networks are set elements, so `--no-internet` is an element update; perimeter rules are
 * rules, so adding one replaces the table in one transaction (conntrack survives it). An IP
 * group a rule names is a set of its CIDRs: `vmctl ipg add|del` changes only its elements.
 */
export const ROUTER_TABLE = "vmctl_router";

export const ROUTER_COUNTERS = ["router_denied", "perimeter_denied", "inbound_denied"] as const;

export interface RouterFirewallDesired {
  router: RouterSpec;
  /** The hosts' LAN addresses (replies to what they send to VMs; see routerSpec). */
  hosts: string[];
  networks: Network[];
  /** Each rule with its nft text (resolved against the store). */
  rules: { rule: FwRule; nft: string }[];
  /** The IP groups the rules name, with their CIDRs. */
  ipGroups: IpGroup[];
}

export function routerFirewallDesired(
  router: RouterSpec,
  hosts: string[],
  data: StoreData,
): RouterFirewallDesired {
  return {
    router,
    hosts,
    networks: data.networks,
    rules: (data.firewall ?? []).map((rule) => ({ rule, nft: fwRuleNft(data, rule) })),
    ipGroups: data.ipGroups.filter((g) =>
      (data.firewall ?? []).some((r) => fwRuleIpGroups(r).includes(g.name)),
    ),
  };
}

const SETS = {
  nets: { typeof: "ip saddr", types: ["ipv4_addr"], interval: true },
  internet: { typeof: "ip saddr", types: ["ipv4_addr"], interval: true },
  hosts: { typeof: "ip daddr", types: ["ipv4_addr"] },
} as const;

const hasInternet = (n: Network) => n.internet !== false;

export function routerSpec(d: RouterFirewallDesired): nft.TableSpec {
  const up = `"${d.router.uplink}"`;
  return {
    family: "ip",
    name: ROUTER_TABLE,
    sets: {
      ...SETS,
      ...Object.fromEntries(
        d.ipGroups.map((g) => [
          ipgSet(g.name),
          { typeof: "ip daddr", types: ["ipv4_addr"], interval: true },
        ]),
      ),
    },
    counters: ROUTER_COUNTERS,
    chains: [
      {
        name: "input",
        hook: { type: "filter", hook: "input", priority: 0 },
        rules: ["ip saddr @nets jump vm_to_router"],
      },
      {
        name: "vm_to_router",
        rules: [
          "ct state established,related accept",
          ...d.networks.map(
            (n) => `ip saddr ${n.subnet} ip daddr ${n.gateway} icmp type echo-request accept`,
          ),
          'counter name "router_denied" drop',
        ],
      },
      {
        name: "forward",
        hook: { type: "filter", hook: "forward", priority: 0 },
        rules: [
          "ct state established,related accept",
          "ip saddr @nets jump from_vm",
          `iifname ${up} ip daddr @nets counter name "inbound_denied" drop`,
        ],
      },
      {
        name: "from_vm",
        rules: [
          ...d.networks.map((n) => `ip saddr ${n.subnet} ip daddr ${n.subnet} accept`),
          ...d.rules.map((r) => r.nft),
          // Replies to connections a host opened to a VM, when they come back through another
          // router of the site than the request took (ECMP: this router's conntrack never saw
          // the request). Only what cannot open a connection: ICMP answers, TCP without a bare SYN.
          "ip daddr @hosts icmp type { echo-reply, destination-unreachable, time-exceeded } accept",
          "ip daddr @hosts tcp flags & (syn | ack) != syn accept",
          `oifname ${up} ip saddr @internet accept`,
          'counter name "perimeter_denied" drop',
        ],
      },
      {
        name: "postrouting",
        hook: { type: "nat", hook: "postrouting", priority: 100 },
        rules: [`oifname ${up} ip saddr @internet ip daddr != @nets masquerade`],
      },
    ],
  };
}

function wantedElements(d: RouterFirewallDesired): Record<string, string[]> | undefined {
  if (d.networks.length === 0) return undefined;
  return {
    nets: d.networks.map((n) => n.subnet),
    internet: d.networks.filter(hasInternet).map((n) => n.subnet),
    hosts: d.hosts,
    ...Object.fromEntries(d.ipGroups.map((g) => [ipgSet(g.name), g.cidrs.map(nft.cidrElement)])),
  };
}

export function planRouterFirewallNft(
  d: RouterFirewallDesired,
  cur: nft.TableState | undefined,
): string | undefined {
  return nft.planTableNft(routerSpec(d), wantedElements(d), cur);
}

export function readRouterFirewall(
  runner: Runner,
  d: RouterFirewallDesired,
): Promise<nft.TableState | undefined> {
  return nft.readTable(runner, routerSpec(d));
}

/** What `net show` lists: the table, each network's isolation and internet, each rule. */
export function routerFirewallItems(
  d: RouterFirewallDesired,
  cur: nft.TableState | undefined,
): Item[] {
  if (d.networks.length === 0) return [];
  const spec = routerSpec(d);
  const intact = nft.sameStructure(spec, cur);
  const apply = nft.nftApply(nft.tableDefinition(spec));
  const has = (set: string, e: string) => intact && (cur.elements[set] ?? []).includes(e);
  // A rule is listed under each network it names (net show filters by network).
  const netsOf = (r: FwRule) => {
    const named = d.networks.filter((n) => n.name === r.from || n.name === r.to);
    return named.length ? named.map((n) => n.name) : [undefined];
  };
  return [
    {
      network: undefined,
      what: `nft table ip ${ROUTER_TABLE} (router protection, perimeter firewall, NAT)`,
      present: intact,
      command: apply,
    },
    ...d.networks.map(
      (n): Item => ({
        network: n.name,
        what: `${n.name} isolated: only its own network, perimeter rules${hasInternet(n) ? ", internet via NAT" : ""}`,
        present: has("nets", n.subnet),
        command: apply,
      }),
    ),
    ...d.networks.map(
      (n): Item => ({
        network: n.name,
        what: hasInternet(n) ? "internet egress (NAT) on" : "internet egress off",
        present: has("internet", n.subnet) === hasInternet(n) && has("nets", n.subnet),
        command: apply,
      }),
    ),
    ...d.rules.flatMap((r) =>
      netsOf(r.rule).map(
        (network): Item => ({
          network,
          what: `fw #${r.rule.id} ${describeFwRule(r.rule)}`,
          present: nft.rulePresent(cur, "from_vm", r.nft),
          command: apply,
        }),
      ),
    ),
  ];
}

export function routerFirewallSteps(
  d: RouterFirewallDesired,
  cur: nft.TableState | undefined,
): Step[] {
  const input = planRouterFirewallNft(d, cur);
  return input ? [{ command: nft.nftApply(input) }] : [];
}

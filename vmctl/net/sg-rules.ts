import type { IpGroup, SecurityGroup, SgRule } from "./model.js";
import { METADATA_IP } from "./names.js";
import type { ChainSpec, SetSpec, TableSpec } from "./nft-table.js";

/**
 * Security groups in nftables: one table of vmctl's own, bridge family, on every host with a
 * vmctl bridge (docs/security-groups.md). The rules are made from the groups' rules only —
 * one nft rule per group rule — and never mention a VM: who is in a group lives in sets
 * (`p_G` this host's member interfaces, `a_G` every member's address in the cluster, `i_X` an
 * IP group's CIDRs), so membership changes are element updates.
 *
 * The kernel here has no bridge conntrack (CONFIG_NF_CONNTRACK_BRIDGE is off: `ct state` in a
 * bridge table fails with "Protocol error"), so the table tracks flows itself: a packet a rule
 * lets through records its flow, both ways, per interface, in timeout sets that the packet
 * path updates (`tcp_in`/`tcp_out` and `udp_*` by addresses and ports, `ping_*` by ICMP echo
 * id, `other_*` by addresses and protocol); later packets of the flow match those sets and
 * refresh their timeout.
 */
export const SG_TABLE = "vmctl_sg";

/** Idle time after which a tracked flow is forgotten: TCP, and everything else. */
export const TCP_TIMEOUT = "1h";
export const FLOW_TIMEOUT = "3m";
export const FLOW_SET_SIZE = 262144;

const SG_COUNTERS = ["ingress_denied", "egress_denied"] as const;

/**
 * A flow set's key: the VM's interface, then the packet's fields. Keys have at most five
 * fields: nft 1.0.6 mis-types a six-field concatenation (it lists the first as `verdict` and
 * aborts listing the elements), so TCP and UDP get a set each instead of a protocol field.
 */
type FlowKind = "tcp" | "udp" | "ping" | "other";
const FIELDS: Record<FlowKind, [string, string]> = {
  tcp: [
    "ip saddr . ip daddr . tcp sport . tcp dport",
    "ip daddr . ip saddr . tcp dport . tcp sport",
  ],
  udp: [
    "ip saddr . ip daddr . udp sport . udp dport",
    "ip daddr . ip saddr . udp dport . udp sport",
  ],
  ping: ["ip saddr . ip daddr . icmp id", "ip daddr . ip saddr . icmp id"],
  other: ["ip saddr . ip daddr . meta l4proto", "ip daddr . ip saddr . meta l4proto"],
};
const KINDS = Object.keys(FIELDS) as FlowKind[];
type Dir = "in" | "out";
const ifOf = (dir: Dir) => (dir === "in" ? "oifname" : "iifname");
const flowSetName = (kind: FlowKind, dir: Dir) => `${kind}_${dir}`;

const FLOW_SETS: Record<string, SetSpec> = Object.fromEntries(
  KINDS.flatMap((kind) =>
    (["in", "out"] as const).map((dir) => [
      flowSetName(kind, dir),
      {
        typeof: `${ifOf(dir)} . ${FIELDS[kind][0]}`,
        dynamic: { timeout: kind === "tcp" ? TCP_TIMEOUT : FLOW_TIMEOUT, size: FLOW_SET_SIZE },
      },
    ]),
  ),
);

export const portsSet = (g: string) => `p_${g}`;
export const addrSet = (g: string) => `a_${g}`;
export const ipgSet = (x: string) => `i_${x}`;

/** What the structure depends on: the groups and their rules, the IP groups' names. */
export interface SgLayout {
  groups: SecurityGroup[];
  ipGroups: string[];
}

/**
 * The sets: fixed ones, then only what rules use — `p_G` for a group with rules, `a_G` for a
 * group some rule names as `sg:G`, `i_X` for an IP group some rule names. Creating a group or
 * an IP group changes no host until a rule uses it.
 */
function sets(l: SgLayout): Record<string, SetSpec> {
  const peers = new Set(l.groups.flatMap((g) => g.rules.map((r) => r.peer)));
  const ifname: SetSpec = { typeof: "iifname" };
  const addr: SetSpec = { typeof: "ip saddr" };
  return Object.fromEntries([
    // This host's filtered interfaces; the fabric's own addresses (DHCP server, hosts, routers).
    ["ports", ifname],
    ["hosts", addr],
    ...Object.entries(FLOW_SETS),
    ...l.groups.flatMap((g) => [
      ...(g.rules.length ? [[portsSet(g.name), ifname] as const] : []),
      ...(peers.has(`sg:${g.name}`) ? [[addrSet(g.name), addr] as const] : []),
    ]),
    ...l.ipGroups
      .filter((x) => peers.has(`ipg:${x}`))
      .map((x) => [ipgSet(x), { ...addr, interval: true }] as const),
  ]);
}

function peerMatch(r: SgRule): string {
  const field = r.direction === "ingress" ? "ip saddr" : "ip daddr";
  if (r.peer.startsWith("sg:")) return `${field} @${addrSet(r.peer.slice(3))}`;
  if (r.peer.startsWith("ipg:")) return `${field} @${ipgSet(r.peer.slice(4))}`;
  return r.peer === "0.0.0.0/0" ? "" : `${field} ${r.peer}`;
}

function protoMatch(r: SgRule): string {
  if (r.proto === "any") return "";
  if (!r.ports) return `meta l4proto ${r.proto}`;
  const p = r.ports.from === r.ports.to ? `${r.ports.from}` : `${r.ports.from}-${r.ports.to}`;
  return `${r.proto} dport ${p}`;
}

/** One group rule as one nft rule: the member interface, the peer, the protocol. */
export function groupRule(g: SecurityGroup, r: SgRule): string {
  const port =
    r.direction === "ingress" ? `oifname @${portsSet(g.name)}` : `iifname @${portsSet(g.name)}`;
  const next = r.direction === "ingress" ? "ingress_new" : "egress_new";
  return [port, peerMatch(r), protoMatch(r), `goto ${next}`].filter(Boolean).join(" ");
}

const KIND_MATCH: Record<FlowKind, string> = {
  tcp: "meta l4proto tcp",
  udp: "meta l4proto udp",
  ping: "icmp type echo-reply",
  other: "meta l4proto != { tcp, udp, icmp }",
};

/** Packets of flows already let through: matched in the flow sets, which they refresh. */
function tracked(dir: Dir): string[] {
  return [
    ...KINDS.map((kind) => {
      const key = `${ifOf(dir)} . ${FIELDS[kind][0]}`;
      const set = flowSetName(kind, dir);
      return `${KIND_MATCH[kind]} ${key} @${set} update @${set} { ${key} } accept`;
    }),
    // Errors about a flow (PMTU, unreachable); without conntrack their flow is not checked.
    "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
  ];
}

/** A packet a rule let through records its flow: this direction's and the reply's. */
function record(dir: Dir): string[] {
  const back: Dir = dir === "in" ? "out" : "in";
  const ifn = ifOf(dir);
  const both = (kind: FlowKind) =>
    `update @${flowSetName(kind, dir)} { ${ifn} . ${FIELDS[kind][0]} } update @${flowSetName(kind, back)} { ${ifn} . ${FIELDS[kind][1]} }`;
  return [
    `meta l4proto tcp ${both("tcp")} accept`,
    `meta l4proto udp ${both("udp")} accept`,
    // Only the reply is tracked: each echo request is checked against the rules again.
    `icmp type echo-request update @${flowSetName("ping", back)} { ${ifn} . ${FIELDS.ping[1]} } accept`,
    `meta l4proto != { tcp, udp, icmp } ${both("other")} accept`,
    "accept",
  ];
}

/** Non-IPv4 (ARP) is port security's business; non-first fragments follow their first one. */
const COMMON = ["ether type != ip accept", "ip frag-off & 0x1fff != 0 accept"];

export function chains(l: SgLayout): ChainSpec[] {
  const rules = (d: "ingress" | "egress") =>
    l.groups.flatMap((g) => g.rules.filter((r) => r.direction === d).map((r) => groupRule(g, r)));
  return [
    // After port security (-300) in prerouting: what a VM sends, before the bridge decides.
    {
      name: "from_vm",
      hook: { type: "filter", hook: "prerouting", priority: -200 },
      rules: ["iifname @ports jump egress"],
    },
    // To a VM: bridged from a neighbour (forward) or sent into the bridge by the host (output:
    // routed traffic from other hosts and the router, and the host's own).
    {
      name: "bridged",
      hook: { type: "filter", hook: "forward", priority: 0 },
      rules: ["oifname @ports jump ingress"],
    },
    {
      name: "delivered",
      hook: { type: "filter", hook: "output", priority: 0 },
      rules: ["oifname @ports jump ingress"],
    },
    {
      name: "egress",
      rules: [
        ...COMMON,
        // DHCP and metadata are reachable whatever the groups say.
        "udp sport 68 udp dport 67 accept",
        `ip daddr ${METADATA_IP} tcp dport 80 accept`,
        ...tracked("out"),
        ...rules("egress"),
        'counter name "egress_denied" drop',
      ],
    },
    {
      name: "ingress",
      rules: [
        ...COMMON,
        "ip saddr @hosts udp sport 67 udp dport 68 accept",
        `ip saddr ${METADATA_IP} tcp sport 80 accept`,
        // The fabric's machines: the VM's own host (vmctl ssh and the first-boot checks come
        // from the bridge address), other hosts and the routers (health checks).
        "ip saddr @hosts accept",
        ...tracked("in"),
        ...rules("ingress"),
        'counter name "ingress_denied" drop',
      ],
    },
    { name: "egress_new", rules: record("out") },
    { name: "ingress_new", rules: record("in") },
  ];
}

/** The table (elements are planned by sg-nft.ts). */
export function sgSpec(l: SgLayout): TableSpec {
  return {
    family: "bridge",
    name: SG_TABLE,
    sets: sets(l),
    counters: SG_COUNTERS,
    chains: chains(l),
    keepSets: true,
  };
}

export type { IpGroup };

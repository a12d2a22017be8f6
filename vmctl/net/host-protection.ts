import type { Runner } from "../../lib/exec/runner.js";
import type { HostException } from "./cluster.js";
import type { Network } from "./model.js";
import { METADATA_IP } from "./names.js";
import * as nft from "./nft-table.js";
import type { Item, Step } from "./plan-items.js";

/**
 * Host protection: what a VM may reach on its host, in `table inet vmctl_host`. From a vmctl
 * bridge (the `input` hook sees the bridge as iifname, for every address of the host: the
 * bridge address, other networks' bridge addresses, the LAN address, 169.254.169.254) the host
 * accepts only DHCP to its dnsmasq, TCP 80 to 169.254.169.254, ICMP echo to the network's own
 * bridge address, the cluster file's `host-allow` exceptions on that address, and replies to
 * connections the host opened (ct state established,related). vmctl's dnsmasq serves no DNS
 * (port=0), so DNS is not opened. Forwarded VM traffic is the router's business (router-firewall.ts).
 *
 * The token hop limit (issue 9): Node cannot set a TCP socket's TTL, so the host ruleset does
 * it. A request to 169.254.169.254:80 whose payload starts with "PUT " marks its connection
 * (one bit of the conntrack mark); replies of marked connections leave with TTL
 * `token-hop-limit`. The directly attached VM receives them; a container NATed behind it does
 * not (the VM's forwarding drops a TTL 1 packet).
 */
export const HOST_TABLE = "vmctl_host";

/** The conntrack mark bit of token connections; vmctl sets no other mark bits. */
export const TOKEN_MARK = "0x40000000";
/** "PUT " as the first 32 bits of the TCP payload (`@ih`: after the transport header). */
const PUT = "0x50555420";

export interface HostProtectionDesired {
  networks: Network[];
  exceptions: HostException[];
  tokenHopLimit: number;
}

const SETS = {
  bridges: { typeof: "iifname", types: ["ifname"] },
  // A bridge with its own network's bridge address: what ICMP and exceptions may reach.
  own_addr: { typeof: "iifname . ip daddr", types: ["ifname", "ipv4_addr"] },
} as const;

const COUNTERS = ["host_denied"] as const;

function exceptionRule(e: HostException): string {
  const ports = e.ports[0] === e.ports[1] ? `${e.ports[0]}` : `${e.ports[0]}-${e.ports[1]}`;
  return `iifname . ip daddr @own_addr ${e.proto} dport ${ports} accept`;
}

export function hostSpec(d: HostProtectionDesired): nft.TableSpec {
  return {
    family: "inet",
    name: HOST_TABLE,
    sets: SETS,
    counters: COUNTERS,
    chains: [
      {
        name: "input",
        hook: { type: "filter", hook: "input", priority: 0 },
        rules: ["iifname @bridges jump from_vm"],
      },
      {
        name: "from_vm",
        rules: [
          // Before the established accept: the request segment comes after the handshake.
          `ip daddr ${METADATA_IP} tcp dport 80 @ih,0,32 ${PUT} ct mark set ct mark | ${TOKEN_MARK}`,
          "ct state established,related accept",
          "udp sport 68 udp dport 67 ip daddr 255.255.255.255 accept",
          "udp sport 68 udp dport 67 iifname . ip daddr @own_addr accept",
          `ip daddr ${METADATA_IP} tcp dport 80 accept`,
          "icmp type echo-request iifname . ip daddr @own_addr accept",
          ...d.exceptions.map(exceptionRule),
          'counter name "host_denied" drop',
        ],
      },
      {
        name: "output",
        hook: { type: "filter", hook: "output", priority: 0 },
        rules: [
          `ip saddr ${METADATA_IP} tcp sport 80 ct mark & ${TOKEN_MARK} == ${TOKEN_MARK} ip ttl set ${d.tokenHopLimit}`,
        ],
      },
    ],
  };
}

function wantedElements(d: HostProtectionDesired): Record<string, string[]> | undefined {
  if (d.networks.length === 0) return undefined;
  return {
    bridges: d.networks.map((n) => `"${n.bridge}"`),
    own_addr: d.networks.map((n) => `"${n.bridge}" . ${n.bridgeIp}`),
  };
}

export function planHostProtectionNft(
  d: HostProtectionDesired,
  cur: nft.TableState | undefined,
): string | undefined {
  return nft.planTableNft(hostSpec(d), wantedElements(d), cur);
}

export function readHostProtection(
  runner: Runner,
  d: HostProtectionDesired,
): Promise<nft.TableState | undefined> {
  return nft.readTable(runner, hostSpec(d));
}

/** What `net show` lists: the table with its rules, and each network's elements. */
export function hostProtectionItems(
  d: HostProtectionDesired,
  cur: nft.TableState | undefined,
): Item[] {
  if (d.networks.length === 0) return [];
  const spec = hostSpec(d);
  const intact = nft.sameStructure(spec, cur);
  const apply = nft.nftApply(nft.tableDefinition(spec));
  return [
    {
      network: undefined,
      what: `nft table inet ${HOST_TABLE} (host protection: DHCP, metadata, ping; token hop limit ${d.tokenHopLimit})`,
      present: intact,
      command: apply,
    },
    ...d.exceptions.map(
      (e): Item => ({
        network: undefined,
        what: `host protection exception ${e.proto}:${e.ports.join("-")} on each bridge address`,
        present: nft.rulePresent(cur, "from_vm", exceptionRule(e)),
        command: apply,
      }),
    ),
    ...d.networks.map(
      (n): Item => ({
        network: n.name,
        what: `host protection of ${n.bridge}: only DHCP, ${METADATA_IP}:80, ping ${n.bridgeIp}`,
        present:
          intact &&
          (cur.elements.bridges ?? []).includes(`"${n.bridge}"`) &&
          (cur.elements.own_addr ?? []).includes(`"${n.bridge}" . ${n.bridgeIp}`),
        command: apply,
      }),
    ),
  ];
}

export function hostProtectionSteps(
  d: HostProtectionDesired,
  cur: nft.TableState | undefined,
): Step[] {
  const input = planHostProtectionNft(d, cur);
  return input ? [{ command: nft.nftApply(input) }] : [];
}

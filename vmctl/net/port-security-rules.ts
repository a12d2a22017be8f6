import * as nft from "./nft-table.js";

/**
 * Port security: what a VM port may send into its bridge. One nftables table of vmctl's own,
 * in the bridge family's `prerouting` hook, which runs before the bridge learns a source MAC
 * (a frame dropped here is never learned: FDB poisoning needs the frame to get past this).
 * Per-port facts live in sets keyed by the port's interface name, so plugging a port in or out
 * is an element update in one transaction; the rules never change with the ports.
 *
 * A port may send: frames from its own MAC; IPv4 from its own address; DHCP client messages
 * (UDP 68→67, BOOTREQUEST, Ethernet chaddr) whose chaddr is its own MAC, from its own address
 * or 0.0.0.0; ARP whose sender is its own MAC and address (or 0.0.0.0: an RFC 5227 probe).
 * Nothing else: no DHCP server replies (UDP source port 67), no IPv6 (no network has it), no
 * VLAN tags. Every drop is counted in a named counter per reason.
 */
export const PORTSEC_TABLE = "vmctl_portsec";

export const COUNTERS = [
  "spoofed_mac",
  "spoofed_ip",
  "spoofed_arp",
  "dhcp_server",
  "dhcp_forged",
  "other_proto",
] as const;
export type DropReason = (typeof COUNTERS)[number];

/** Set name → its `typeof` and the key types `nft -j list` reports for it. */
export const SETS = {
  ports: { typeof: "iifname", types: ["ifname"] },
  port_mac: { typeof: "iifname . ether saddr", types: ["ifname", "ether_addr"] },
  port_ip: { typeof: "iifname . ip saddr", types: ["ifname", "ipv4_addr"] },
  port_arp: {
    typeof: "iifname . arp saddr ether . arp saddr ip",
    types: ["ifname", "ether_addr", "ipv4_addr"],
  },
  // BOOTP chaddr: the UDP header (8 bytes) plus 28 bytes into the BOOTP message, 6 bytes.
  port_chaddr: { typeof: "iifname . @th,288,48", types: ["ifname", "integer"] },
} as const;
export type SetName = keyof typeof SETS;

/** A port's interface name as an nft string (names may hold `.` or `-`). */
function q(name: string): string {
  return `"${name}"`;
}

/** A MAC as the 48-bit integer the chaddr match compares. */
export function macInteger(mac: string): string {
  return `0x${mac.replaceAll(":", "").toLowerCase()}`;
}

export interface SecuredPort {
  dev: string;
  mac: string;
  ip: string;
}

/** The set elements a port needs, as nft writes them (and as the reader renders the listing). */
export function portElements(p: SecuredPort): Record<SetName, string> {
  const mac = p.mac.toLowerCase();
  return {
    ports: q(p.dev),
    port_mac: `${q(p.dev)} . ${mac}`,
    port_ip: `${q(p.dev)} . ${p.ip}`,
    port_arp: `${q(p.dev)} . ${mac} . ${p.ip}`,
    port_chaddr: `${q(p.dev)} . ${macInteger(mac)}`,
  };
}

const ARP_ETHERNET_IPV4 = "arp htype 1 arp ptype ip arp hlen 6 arp plen 4";

export const CHAINS: nft.ChainSpec[] = [
  {
    name: "prerouting",
    hook: { type: "filter", hook: "prerouting", priority: -300 },
    // Only the ports vmctl plugged in: the bridge family hook sees every bridge on the host,
    // and this kernel has no `meta ibrname` (CONFIG_NFT_BRIDGE_META) to pick vmctl's bridges.
    rules: ["iifname @ports jump from_port"],
  },
  {
    name: "from_port",
    rules: [
      'iifname . ether saddr != @port_mac counter name "spoofed_mac" drop',
      "ether type ip goto ipv4_check",
      "ether type arp goto arp_check",
      'counter name "other_proto" drop',
    ],
  },
  {
    name: "ipv4_check",
    rules: [
      'udp sport 67 counter name "dhcp_server" drop',
      "iifname . ip saddr @port_ip goto ipv4_own",
      "ip saddr 0.0.0.0 udp sport 68 udp dport 67 goto dhcp_check",
      'counter name "spoofed_ip" drop',
    ],
  },
  { name: "ipv4_own", rules: ["udp dport 67 goto dhcp_check", "accept"] },
  {
    name: "dhcp_check",
    rules: [
      // A fragmented request could carry its chaddr in a fragment the match below cannot see;
      // DHCP clients never fragment (RFC 2131: 576 bytes fit any link).
      'ip frag-off & 0x3fff != 0 counter name "dhcp_forged" drop',
      // op 1 (BOOTREQUEST), htype 1 (Ethernet), hlen 6, then chaddr: the port's own MAC.
      "udp sport 68 @th,64,24 0x010106 iifname . @th,288,48 @port_chaddr accept",
      'counter name "dhcp_forged" drop',
    ],
  },
  {
    name: "arp_check",
    rules: [
      `${ARP_ETHERNET_IPV4} iifname . arp saddr ether . arp saddr ip @port_arp accept`,
      `${ARP_ETHERNET_IPV4} arp saddr ip 0.0.0.0 iifname . arp saddr ether @port_mac accept`,
      'counter name "spoofed_arp" drop',
    ],
  },
];

export const PORTSEC_SPEC: nft.TableSpec = {
  family: "bridge",
  name: PORTSEC_TABLE,
  sets: SETS,
  counters: COUNTERS,
  chains: CHAINS,
};

/** The table's structure in a comparable form (elements are not part of it). */
export function wantedStructure(): string[] {
  return nft.wantedStructure(PORTSEC_SPEC);
}

/** The whole table, without elements, in `nft -f` syntax. */
export function tableDefinition(): string {
  return nft.tableDefinition(PORTSEC_SPEC);
}

/** The store's records: what vmctl wants every machine to have. */
export interface Network {
  name: string;
  /** e.g. 10.10.10.0/24 */
  subnet: string;
  /** The address VMs use as their default gateway: on the router's loopback. */
  gateway: string;
  /** The same address on every host's bridge. */
  bridgeIp: string;
  table: number;
  rulePref: number;
  bridge: string;
  mac: string;
  /** false: no internet egress (no NAT, denied at the router). Absent = true (the default). */
  internet?: boolean;
}

/**
 * One perimeter rule at the router, in order (the first match decides; the last rule is an
 * implicit deny). Endpoints: a network name, a CIDR, or `ipg:NAME` once IP groups exist.
 */
export interface FwRule {
  id: number;
  action: "allow" | "deny";
  from: string;
  to: string;
  proto: "tcp" | "udp" | "icmp" | "any";
  /** First and last destination port (tcp/udp only). */
  ports?: [number, number];
}

/** One VM interface: a tap (libvirt) or a veth (tests) on a host's bridge. */
export interface Port {
  network: string;
  host: string;
  ip: string;
  dev: string;
  /** The VM's own MAC (not the tap's): the only source MAC port security lets through. */
  mac: string;
  /**
   * The security groups of this interface (docs/security-groups.md). Absent (a store from
   * before security groups, or a port attached without --sg): the network's default group.
   */
  groups?: string[];
  /** The VM this interface belongs to (vmctl create), so `sg attach VM SG` can find it. */
  vm?: string;
}

/** A named set of outside addresses, usable in security group and perimeter rules. */
export interface IpGroup {
  name: string;
  /** Normalised CIDRs (host bits clear, /32 for a single address), sorted, none inside another. */
  cidrs: string[];
}

export type Direction = "ingress" | "egress";
export type RuleProto = "tcp" | "udp" | "icmp" | "any";

/** One allow rule of a security group. */
export interface SgRule {
  direction: Direction;
  proto: RuleProto;
  /** tcp/udp only; absent = every port. */
  ports?: { from: number; to: number };
  /** Who is on the other side: a CIDR, `sg:NAME` (its members' addresses) or `ipg:NAME`. */
  peer: string;
}

export interface SecurityGroup {
  name: string;
  rules: SgRule[];
  /** Set on a network's default group: the group of its ports attached without --sg. */
  network?: string;
}

export interface StoreData {
  version: 1;
  networks: Network[];
  ports: Port[];
  ipGroups: IpGroup[];
  securityGroups: SecurityGroup[];
  /** Perimeter rules in order; absent in stores from before the perimeter firewall. */
  firewall?: FwRule[];
}

export const EMPTY_STORE: StoreData = {
  version: 1,
  networks: [],
  ports: [],
  ipGroups: [],
  securityGroups: [],
};

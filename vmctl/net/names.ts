import { createHash } from "node:crypto";

/** Names and numbers vmctl uses to recognise what it created on a machine. */

/**
 * Route and rule protocol number for everything vmctl adds. 77 is unnamed in iproute2's
 * rt_protos (187, say, prints as "isis"); readers use `ip -N` so a local name cannot hide it.
 */
export const PROTO = 77;
/** ip link alias on bridges we created: the marker `host apply` uses to find bridges to remove. */
export const BRIDGE_ALIAS = "vmctl";
/** Label of gateway addresses on the router's loopback (addresses have no `proto` in iproute2 6.1). */
export const LO_LABEL = "lo:vmctl";
export const IPSET = "vmctl-nets";
export const IPTABLES_COMMENT = "vmctl";
export const METADATA_IP = "169.254.169.254";
export const LINK_LOCAL = "169.254.0.0/16";
export const FIRST_TABLE = 101;
export const LAST_TABLE = 250;
/** Rule preference base: > 0 so rule 0 (`lookup local`) still sees 169.254.169.254 first (docs/fabric.md pitfall 9). */
export const RULE_PREF_BASE = 1000;
/**
 * The rule for the host's own traffic to a network sits this far above that network's bridge
 * rule: past every bridge rule (one per table, 150 at most), still far below `lookup main`.
 */
export const LOCAL_RULE_OFFSET = 200;

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

export function isValidNetworkName(name: string): boolean {
  return NAME.test(name);
}

function digest(name: string): Buffer {
  return createHash("sha256").update(`vmctl-net:${name}`).digest();
}

/** `br-NAME`, or a hashed form when that exceeds the kernel's 15-character limit. */
export function bridgeName(name: string): string {
  const plain = `br-${name}`;
  if (plain.length <= 15) return plain;
  return `br-${name.slice(0, 7)}-${digest(name).toString("hex").slice(0, 4)}`;
}

/**
 * A fixed bridge MAC, the same on every host (docs/fabric.md pitfall 5: a bridge otherwise takes its lowest
 * port's MAC and changes as ports come and go). 0x02 = locally administered, unicast.
 */
export function bridgeMac(name: string): string {
  const d = digest(name);
  const bytes = [0x02, d[0] ?? 0, d[1] ?? 0, d[2] ?? 0, d[3] ?? 0, d[4] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

const GROUP_NAME = /^[a-z][a-z0-9-]{0,47}$/;

/** Security group and IP group names: they become parts of nft set names (docs/security-groups.md). */
export function isValidGroupName(name: string): boolean {
  return GROUP_NAME.test(name);
}

/** Prefix of each network's default security group: `default-net1`; users cannot take it. */
export const DEFAULT_GROUP_PREFIX = "default-";

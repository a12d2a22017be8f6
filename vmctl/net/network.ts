import { AppError } from "../../lib/errors.js";
import {
  type Cidr,
  formatCidr,
  formatIpv4,
  isUsableHost,
  overlaps,
  parseCidr,
  parseCidrInput,
  parseIpv4,
} from "./ipv4.js";
import type { Network, StoreData } from "./model.js";
import {
  bridgeMac,
  bridgeName,
  FIRST_TABLE,
  isValidNetworkName,
  LAST_TABLE,
  LINK_LOCAL,
  RULE_PREF_BASE,
} from "./names.js";

export interface NetworkRequest {
  name: string;
  subnet: string;
  gateway?: string;
  bridgeIp?: string;
}

function invalid(message: string): AppError {
  return new AppError("INVALID", message);
}

function hostAddress(subnet: Cidr, text: string, what: string): number {
  const ip = parseIpv4(text);
  if (ip === undefined) throw invalid(`${what} ${text} is not an IPv4 address`);
  if (!isUsableHost(subnet, ip))
    throw invalid(`${what} ${text} is not a usable address in ${formatCidr(subnet)}`);
  return ip;
}

/** Validates a request against the store and fills in defaults; throws one-line AppErrors. */
export function defineNetwork(store: StoreData, req: NetworkRequest): Network {
  if (!isValidNetworkName(req.name))
    throw invalid(`network name "${req.name}" must match [a-z][a-z0-9-]{0,31}`);
  if (store.networks.some((n) => n.name === req.name))
    throw new AppError("EXISTS", `network ${req.name} already exists`);
  const subnet = parseCidrInput(req.subnet, {
    label: `subnet ${req.subnet}`,
    otherwise: "is not an IPv4 CIDR like 10.10.10.0/24",
  });
  if (subnet.prefix < 8 || subnet.prefix > 29)
    throw invalid(`subnet ${req.subnet}: prefix must be between /8 and /29`);
  const linkLocal = parseCidr(LINK_LOCAL) as Cidr;
  if (overlaps(subnet, linkLocal))
    throw invalid(`subnet ${req.subnet} overlaps ${LINK_LOCAL} (metadata)`);
  for (const other of store.networks) {
    const o = parseCidr(other.subnet);
    if (o && overlaps(subnet, o))
      throw new AppError(
        "OVERLAP",
        `subnet ${req.subnet} overlaps network ${other.name} (${other.subnet})`,
      );
  }
  const gateway = hostAddress(subnet, req.gateway ?? formatIpv4(subnet.network + 1), "gateway");
  const bridgeIp = hostAddress(
    subnet,
    req.bridgeIp ?? formatIpv4(subnet.network + 2),
    "bridge address",
  );
  if (gateway === bridgeIp) {
    // One of them may be a default the user never typed: say which, so the fix is obvious.
    const flag = (name: string, given: string | undefined, which: string) =>
      `${name} ${formatIpv4(gateway)}${given === undefined ? ` (the default: the subnet's ${which} address)` : ""}`;
    throw invalid(
      `${flag("--gateway", req.gateway, "first")} and ${flag("--bridge-ip", req.bridgeIp, "second")} are the same address; give them different addresses`,
    );
  }
  const table = freeTable(store);
  const bridge = bridgeName(req.name);
  if (store.networks.some((n) => n.bridge === bridge))
    throw invalid(`bridge name ${bridge} is already used; choose another network name`);
  return {
    name: req.name,
    subnet: formatCidr(subnet),
    gateway: formatIpv4(gateway),
    bridgeIp: formatIpv4(bridgeIp),
    table,
    rulePref: RULE_PREF_BASE + (table - FIRST_TABLE),
    bridge,
    mac: bridgeMac(req.name),
  };
}

function freeTable(store: StoreData): number {
  const used = new Set(store.networks.map((n) => n.table));
  for (let t = FIRST_TABLE; t <= LAST_TABLE; t++) if (!used.has(t)) return t;
  throw invalid(`no free routing table between ${FIRST_TABLE} and ${LAST_TABLE}`);
}

/**
 * Why `ipText` may not be a VM port's address in `net`, or undefined if it may: the one rule
 * that attach, create's --ip and the free-address search all apply.
 */
export function portAddressProblem(net: Network, ipText: string): string | undefined {
  const subnet = parseCidr(net.subnet) as Cidr;
  const ip = parseIpv4(ipText);
  if (ip === undefined) return "not an IPv4 address";
  if (!isUsableHost(subnet, ip)) return `outside network ${net.name} (${net.subnet})`;
  const text = formatIpv4(ip);
  if (text === net.gateway || text === net.bridgeIp)
    return `that is network ${net.name}'s gateway or bridge address`;
  return undefined;
}

/** Checks that `ip` may be given to a VM port in `net` and no port has it yet. */
export function checkPortAddress(store: StoreData, net: Network, ipText: string): void {
  const why = portAddressProblem(net, ipText);
  if (why) throw invalid(`address ${ipText}: ${why}`);
  const taken = store.ports.find((p) => p.network === net.name && p.ip === ipText);
  if (taken) throw new AppError("EXISTS", `address ${ipText} is already attached on ${taken.host}`);
}

export function findNetwork(store: StoreData, name: string): Network {
  const net = store.networks.find((n) => n.name === name);
  if (!net) throw new AppError("NOT_FOUND", `no network named ${name} (see: vmctl net list)`);
  return net;
}

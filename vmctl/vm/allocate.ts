import { AppError } from "../../lib/errors.js";
import { type Cidr, formatIpv4, isUsableHost, parseCidr, parseIpv4 } from "../net/ipv4.js";
import type { Network, StoreData } from "../net/model.js";

/**
 * Free addresses of a network, lowest first: usable hosts that are neither the gateway, the
 * bridge address, any port's nor `leased` (addresses the VM's host still has a DHCP lease of
 * for another MAC, which its dnsmasq would refuse to hand out). The final check happens under the store's lock when the port is
 * recorded (attachPort), so two concurrent creates cannot both get one address.
 */
export function* freeAddresses(
  data: StoreData,
  net: Network,
  leased: Iterable<string> = [],
): Generator<string> {
  const subnet = parseCidr(net.subnet) as Cidr;
  const taken = new Set([
    net.gateway,
    net.bridgeIp,
    ...leased,
    ...data.ports.filter((p) => p.network === net.name).map((p) => p.ip),
  ]);
  const size = 2 ** (32 - subnet.prefix);
  for (let i = 0; i < size; i++) {
    const ip = (subnet.network + i) >>> 0;
    if (isUsableHost(subnet, ip) && !taken.has(formatIpv4(ip))) yield formatIpv4(ip);
  }
}

export function checkRequestedIp(net: Network, ip: string): void {
  const subnet = parseCidr(net.subnet) as Cidr;
  const n = parseIpv4(ip);
  if (n === undefined) throw new AppError("INVALID", `--ip ${ip}: not an IPv4 address`);
  if (!isUsableHost(subnet, n))
    throw new AppError("INVALID", `--ip ${ip}: outside network ${net.name} (${net.subnet})`);
  if (ip === net.gateway || ip === net.bridgeIp) {
    throw new AppError(
      "INVALID",
      `--ip ${ip}: that is network ${net.name}'s gateway or bridge address`,
    );
  }
}

/**
 * --ip of an address a lease on the VM's host still holds for another MAC: dnsmasq would refuse
 * it to the new VM. (An address a port holds is refused when the port is recorded.)
 */
export function checkNotLeased(
  data: StoreData,
  net: Network,
  ip: string,
  leases: { ip: string; mac: string }[],
  host: string,
): void {
  const lease = leases.find((l) => l.ip === ip);
  if (!lease || data.ports.some((p) => p.network === net.name && p.ip === ip)) return;
  throw new AppError(
    "EXISTS",
    `--ip ${ip}: leased to ${lease.mac} on ${host} (a stale lease? vmctl host apply ${host} drops those)`,
  );
}

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `512M`, `2G`, `1.5G`, `1073741824`: bytes; undefined if malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * (UNITS[(m[2] ?? "").toUpperCase()] ?? 1);
  return Number.isFinite(bytes) && bytes > 0 ? Math.round(bytes) : undefined;
}

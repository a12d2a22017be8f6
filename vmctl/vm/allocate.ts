import { AppError } from "../../lib/errors.js";
import { type Cidr, formatIpv4, parseCidr } from "../net/ipv4.js";
import type { Network, StoreData } from "../net/model.js";
import { portAddressProblem } from "../net/network.js";

/**
 * Free addresses of a network, lowest first: those a port may have that neither a port has
 * nor `leased` holds (addresses the VM's host still has a DHCP lease of for another MAC, which
 * its dnsmasq would refuse to hand out). The final check happens under the store's lock when
 * the port is recorded (attachPort), so two concurrent creates cannot both get one address.
 */
export function* freeAddresses(
  data: StoreData,
  net: Network,
  leased: Iterable<string> = [],
): Generator<string> {
  const subnet = parseCidr(net.subnet) as Cidr;
  const taken = new Set([
    ...leased,
    ...data.ports.filter((p) => p.network === net.name).map((p) => p.ip),
  ]);
  const size = 2 ** (32 - subnet.prefix);
  for (let i = 0; i < size; i++) {
    const ip = formatIpv4((subnet.network + i) >>> 0);
    if (!taken.has(ip) && portAddressProblem(net, ip) === undefined) yield ip;
  }
}

export function checkRequestedIp(net: Network, ip: string): void {
  const why = portAddressProblem(net, ip);
  if (why) throw new AppError("INVALID", `--ip ${ip}: ${why}`);
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

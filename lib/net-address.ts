import { isIP } from "node:net";

/**
 * Normalises an address to the form a socket reports its peer in, so records and requests
 * compare equal: `::ffff:10.0.0.5` is the IPv4 client 10.0.0.5, and an IPv6 address is
 * written as RFC 5952 says (lower case, the longest run of zero groups as `::`), e.g.
 * `FD00:0:0:0::5` is `fd00::5`. A socket's own address is in that form already (the fast path).
 */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:") && isIP(lower.slice(7)) === 4) return lower.slice(7);
  if (!lower.includes(":") || isIP(lower) !== 6) return lower;
  // WHATWG URL serialises IPv6 hosts per RFC 5952, as glibc's inet_ntop does.
  return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function normalizeMac(mac: string): string | undefined {
  const m = mac.trim().toLowerCase().replaceAll("-", ":");
  return MAC.test(m) ? m : undefined;
}

/** An IPv4 network in CIDR form, e.g. 10.10.10.0/24. */
export function isIpv4Cidr(text: string): boolean {
  const [addr, len, ...rest] = text.split("/");
  return (
    rest.length === 0 && isIP(addr ?? "") === 4 && /^\d{1,2}$/.test(len ?? "") && Number(len) <= 32
  );
}

import { isIP } from "node:net";

/** Normalises a socket's remote address: `::ffff:10.0.0.5` is the IPv4 client 10.0.0.5. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:") && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function normalizeMac(mac: string): string | undefined {
  const m = mac.trim().toLowerCase().replaceAll("-", ":");
  return MAC.test(m) ? m : undefined;
}

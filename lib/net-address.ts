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

/** An IPv4 network in CIDR form, e.g. 10.10.10.0/24. */
export function isIpv4Cidr(text: string): boolean {
  const [addr, len, ...rest] = text.split("/");
  return (
    rest.length === 0 && isIP(addr ?? "") === 4 && /^\d{1,2}$/.test(len ?? "") && Number(len) <= 32
  );
}

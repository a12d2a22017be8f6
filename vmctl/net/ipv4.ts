import { AppError } from "../../lib/errors.js";

/**
 * IPv4 arithmetic on unsigned 32-bit numbers; every parser returns undefined on bad input, but
 * parseCidrInput, which says to the user what is wrong.
 */
export interface Cidr {
  /** Network address (host bits zero). */
  network: number;
  prefix: number;
}

const OCTETS = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): number | undefined {
  const m = OCTETS.exec(text.trim());
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? "";
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `A.B.C.D/N`; `strict` refuses host bits (a network must be written as its network address). */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  const [addr, len, ...rest] = text.trim().split("/");
  if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len))
    return undefined;
  const prefix = Number(len);
  const ip = parseIpv4(addr);
  if (ip === undefined || prefix > 32) return undefined;
  const network = (ip & mask(prefix)) >>> 0;
  if (strict && network !== ip) return undefined;
  return { network, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

/**
 * A CIDR as a user gives it (with `single`, one address too, as a /32), host bits refused.
 * Else one line naming the input by `label`: the network meant when only host bits are
 * wrong, otherwise `${label} ${otherwise}`.
 */
export function parseCidrInput(
  text: string,
  m: { label: string; otherwise: string; single?: boolean },
): Cidr {
  const c = parseCidr(m.single && !text.includes("/") ? `${text}/32` : text);
  if (c) return c;
  const loose = parseCidr(text, false);
  throw new AppError(
    "INVALID",
    loose
      ? `${m.label} has host bits set; did you mean ${formatCidr(loose)}?`
      : `${m.label} ${m.otherwise}`,
  );
}

export function broadcast(c: Cidr): number {
  return (c.network | (~mask(c.prefix) >>> 0)) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.network & mask(p)) >>> 0 === (b.network & mask(p)) >>> 0;
}

/** True for an address a VM or gateway may use: inside the subnet, not its network or broadcast address. */
export function isUsableHost(c: Cidr, ip: number): boolean {
  if (!contains(c, ip)) return false;
  if (c.prefix >= 31) return true;
  return ip !== c.network && ip !== broadcast(c);
}

import { describe, expect, it } from "vitest";
import {
  broadcast,
  contains,
  formatCidr,
  formatIpv4,
  isUsableHost,
  overlaps,
  parseCidr,
  parseCidrInput,
  parseIpv4,
} from "../../vmctl/net/ipv4.js";

const cidr = (s: string) => {
  const c = parseCidr(s);
  if (!c) throw new Error(`bad ${s}`);
  return c;
};

describe("IPv4 math", () => {
  it("parses and formats addresses, refusing junk and leading zeros", () => {
    expect(formatIpv4(parseIpv4("10.10.10.1") ?? -1)).toBe("10.10.10.1");
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    for (const bad of ["10.10.10", "10.10.10.256", "010.1.1.1", "a.b.c.d", "1.2.3.4.5", ""])
      expect(parseIpv4(bad), bad).toBeUndefined();
  });

  it("parses CIDRs strictly unless asked not to", () => {
    expect(formatCidr(cidr("10.10.10.0/24"))).toBe("10.10.10.0/24");
    expect(parseCidr("10.10.10.5/24")).toBeUndefined();
    expect(formatCidr(parseCidr("10.10.10.5/24", false) ?? cidr("0.0.0.0/0"))).toBe(
      "10.10.10.0/24",
    );
    for (const bad of ["10.10.10.0", "10.10.10.0/33", "10.10.10.0/x", "10.10.10.0/24/1"])
      expect(parseCidr(bad), bad).toBeUndefined();
  });

  it("parses a user's CIDR in one place: the network meant for host bits, else the caller's words", () => {
    const subnet = (t: string) => () =>
      parseCidrInput(t, { label: `subnet ${t}`, otherwise: "is not an IPv4 CIDR" });
    expect(formatCidr(subnet("10.10.10.0/24")())).toBe("10.10.10.0/24");
    expect(subnet("10.10.10.5/24")).toThrow(
      "subnet 10.10.10.5/24 has host bits set; did you mean 10.10.10.0/24?",
    );
    expect(subnet("10.10.10.5")).toThrow("subnet 10.10.10.5 is not an IPv4 CIDR");
    const one = parseCidrInput("198.51.100.7", { label: "x", otherwise: "-", single: true });
    expect(formatCidr(one)).toBe("198.51.100.7/32");
  });

  it("knows containment, overlap, broadcast and usable hosts", () => {
    const n = cidr("10.10.10.0/24");
    expect(formatIpv4(broadcast(n))).toBe("10.10.10.255");
    expect(contains(n, parseIpv4("10.10.10.77") ?? 0)).toBe(true);
    expect(contains(n, parseIpv4("10.10.11.1") ?? 0)).toBe(false);
    expect(overlaps(n, cidr("10.10.10.128/25"))).toBe(true);
    expect(overlaps(n, cidr("10.0.0.0/8"))).toBe(true);
    expect(overlaps(n, cidr("10.10.11.0/24"))).toBe(false);
    expect(isUsableHost(n, parseIpv4("10.10.10.0") ?? 0)).toBe(false);
    expect(isUsableHost(n, parseIpv4("10.10.10.255") ?? 0)).toBe(false);
    expect(isUsableHost(n, parseIpv4("10.10.10.1") ?? 0)).toBe(true);
  });
});

import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

/**
 * Per-port anti-spoofing (docs/fabric.md pitfall 12): what comes in from a VM's tap may only carry its
 * own MAC, its own IPv4 source (or 0.0.0.0 for a DHCP request) and ARP about its own address.
 * ebtables (nf_tables backend on Debian 12), one chain per tap jumped to from INPUT and FORWARD.
 */
export function chainName(tap: string): string {
  return `vmctl-${tap}`;
}

export function antiSpoofRules(tap: string, mac: string, ip: string): string[][] {
  const c = chainName(tap);
  return [
    ["-N", c],
    ["-A", c, "!", "-s", mac, "-j", "DROP"],
    ["-A", c, "-p", "IPv4", "--ip-src", ip, "-j", "RETURN"],
    [
      "-A",
      c,
      "-p",
      "IPv4",
      "--ip-src",
      "0.0.0.0",
      "--ip-proto",
      "udp",
      "--ip-dport",
      "67",
      "-j",
      "RETURN",
    ],
    ["-A", c, "-p", "ARP", "--arp-ip-src", ip, "--arp-mac-src", mac, "-j", "RETURN"],
    ["-A", c, "-j", "DROP"],
    ["-A", "FORWARD", "-i", tap, "-j", c],
    ["-A", "INPUT", "-i", tap, "-j", c],
  ];
}

/** The rules as one `ebtables-restore --noflush` input: one process instead of one per rule. */
export function antiSpoofRestore(tap: string, mac: string, ip: string): string {
  const lines = antiSpoofRules(tap, mac, ip).map((args) =>
    args[0] === "-N" ? `:${args[1]} RETURN` : args.join(" "),
  );
  return `*filter\n${lines.join("\n")}\n`;
}

export async function addAntiSpoof(
  runner: Runner,
  tap: string,
  mac: string,
  ip: string,
): Promise<void> {
  // ebtables has no -C: a chain left by an earlier failure is removed, then all is added at once.
  const left = await runner.probe(cmd("ebtables", ["-L", chainName(tap)]));
  if (left.exitCode === 0) await removeAntiSpoof(runner, tap);
  await runner.run(cmd("ebtables-restore", ["--noflush"], true, antiSpoofRestore(tap, mac, ip)));
}

/** Removes the jumps and the chain; missing pieces are fine (idempotent delete). */
export async function removeAntiSpoof(runner: Runner, tap: string): Promise<void> {
  const c = chainName(tap);
  for (const parent of ["FORWARD", "INPUT"]) {
    await runner.probe(cmd("ebtables", ["-D", parent, "-i", tap, "-j", c], true));
  }
  await runner.probe(cmd("ebtables", ["-F", c], true));
  await runner.probe(cmd("ebtables", ["-X", c], true));
}

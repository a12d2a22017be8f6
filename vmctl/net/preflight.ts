import { AppError, CommandError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { diagnoseSsh } from "../ssh/diagnose.js";

/** The Debian package that provides each tool, for the error message. */
const PACKAGES: Record<string, { args: string[]; pkg: string }> = {
  ip: { args: ["-V"], pkg: "iproute2" },
  sysctl: { args: ["-V"], pkg: "procps" },
  ipset: { args: ["version"], pkg: "ipset" },
  iptables: { args: ["-V"], pkg: "iptables" },
  arping: { args: ["--help"], pkg: "arping" },
  nft: { args: ["--version"], pkg: "nftables" },
  bridge: { args: ["-V"], pkg: "iproute2" },
  bird: { args: ["--version"], pkg: "bird2" },
  wg: { args: ["--version"], pkg: "wireguard-tools" },
  "wireguard-go": { args: ["--version"], pkg: "wireguard-go" },
  "qemu-img": { args: ["--version"], pkg: "qemu-utils" },
};

/** exec failed (not started): ENOENT locally, 127 over ssh, `exec of "x" failed` in a netns. */
export function looksMissing(exitCode: number | undefined, stderr: string): boolean {
  return (
    exitCode === undefined ||
    exitCode === 127 ||
    /exec of ".*" failed|command not found|ENOENT/.test(stderr)
  );
}

/**
 * Checks that a machine answers and has the tools, before anything is changed anywhere:
 * `ip netns exec` of a missing namespace and ssh to a dead host both exit 255.
 */
export async function preflight(runner: Runner, machine: string, tools: string[]): Promise<void> {
  const reach = await runner.probe(cmd("true", [])).catch((e: unknown) => {
    if (e instanceof CommandError) return { exitCode: e.exitCode ?? 255, stderr: e.stderr };
    throw e;
  });
  if (reach.exitCode !== 0) {
    const t = runner.target;
    if (t.kind === "ssh" && reach.exitCode === 255)
      throw new AppError("UNREACHABLE", diagnoseSsh(machine, t.destination, reach.stderr));
    const why = reach.stderr.trim().split("\n").pop() ?? "";
    throw new AppError("UNREACHABLE", `${machine} cannot be reached${why ? `: ${why}` : ""}`);
  }
  // Side by side: over ssh each probe is a round trip (on one shared connection).
  const found = await Promise.all(
    tools.map(async (tool) => {
      const t = PACKAGES[tool] ?? { args: ["--version"], pkg: tool };
      const r = await runner.probe(cmd(tool, t.args)).catch((e: unknown) => {
        if (e instanceof CommandError) return { exitCode: e.exitCode, stderr: e.stderr };
        throw e;
      });
      return { tool, pkg: t.pkg, missing: looksMissing(r.exitCode, r.stderr) };
    }),
  );
  const missing = found.find((f) => f.missing);
  if (missing)
    throw new AppError(
      "MISSING_TOOL",
      `${machine}: ${missing.tool} not found (install ${missing.pkg})`,
    );
}

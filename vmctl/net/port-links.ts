import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Step } from "./plan-items.js";
import { portLinkSteps } from "./port-security.js";
import type { SecuredPort } from "./port-security-rules.js";

/** A bridge port's learning and flooding flags and its static FDB entries. */
export interface PortLinkState {
  dev: string;
  master: string | undefined;
  learning: boolean;
  flood: boolean;
  staticMacs: string[];
}

type Json = Record<string, unknown>;

/** `ip -json -details link show` and `bridge -json fdb show`: bridge ports only. */
export function parsePortLinks(linksJson: string, fdbJson: string): PortLinkState[] {
  const fdb = (JSON.parse(fdbJson || "[]") as Json[]).filter((e) => e.state === "static");
  return (JSON.parse(linksJson || "[]") as Json[])
    .filter((l) => (l.linkinfo as Json | undefined)?.info_slave_kind === "bridge")
    .map((l) => {
      const data = ((l.linkinfo as Json).info_slave_data ?? {}) as Json;
      const dev = String(l.ifname);
      return {
        dev,
        master: typeof l.master === "string" ? l.master : undefined,
        learning: data.learning !== false,
        flood: data.flood !== false,
        staticMacs: fdb.filter((e) => e.ifname === dev).map((e) => String(e.mac).toLowerCase()),
      };
    });
}

export async function readPortLinks(runner: Runner): Promise<PortLinkState[]> {
  const [links, fdb] = await Promise.all([
    runner.run(cmd("ip", ["-json", "-details", "link", "show"])),
    runner.run(cmd("bridge", ["-json", "fdb", "show"])),
  ]);
  return parsePortLinks(links.stdout, fdb.stdout);
}

/**
 * Drift repair for ports that are plugged into their bridge now: learning or flooding turned
 * back on, or the static FDB entry gone. A port whose interface is absent or unplugged (VM
 * stopped, tap lost) is left to `vmctl start`, which plugs it in again.
 */
export function planPortLinks(
  ports: (SecuredPort & { bridge: string })[],
  cur: PortLinkState[],
): Step[] {
  return ports.flatMap((p) => {
    const link = cur.find((l) => l.dev === p.dev && l.master === p.bridge);
    if (!link) return [];
    const [flags, fdb] = portLinkSteps(p);
    return [
      ...(link.learning || link.flood ? [flags as Step] : []),
      ...(link.staticMacs.includes(p.mac.toLowerCase()) ? [] : [fdb as Step]),
    ];
  });
}

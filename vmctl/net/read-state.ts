import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import {
  type MachineState,
  parseAddrs,
  parseIpsetSave,
  parseIptablesS,
  parseLinks,
  parseRoutes,
  parseRules,
  parseSysctl,
} from "./machine-state.js";

export interface ReadOptions {
  sysctls: string[];
  /** The router also needs ipset and iptables state. */
  firewall: boolean;
}

/** Reads a machine's current state through its Runner (all read-only commands). */
export async function readState(runner: Runner, opts: ReadOptions): Promise<MachineState> {
  const out = async (file: string, args: string[]) => (await runner.run(cmd(file, args))).stdout;
  const [links, addrs, routes, rules, sysctls] = await Promise.all([
    out("ip", ["-json", "-details", "link", "show"]),
    out("ip", ["-json", "addr", "show"]),
    out("ip", ["-N", "-json", "-4", "route", "show", "table", "all"]),
    out("ip", ["-N", "-json", "-4", "rule", "show"]),
    opts.sysctls.length > 0 ? out("sysctl", ["-e", ...opts.sysctls]) : Promise.resolve(""),
  ]);
  const ipsets = opts.firewall ? parseIpsetSave(await out("ipset", ["save"])) : {};
  const natRules = opts.firewall
    ? parseIptablesS(await out("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"]))
    : [];
  return {
    links: parseLinks(links),
    addrs: parseAddrs(addrs),
    routes: parseRoutes(routes),
    rules: parseRules(rules),
    sysctls: parseSysctl(sysctls),
    ipsets,
    natRules,
  };
}

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
  /** The router: the iptables rule and ipset older vmctl versions made (to remove them). */
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
  // A router without ipset or iptables installed has nothing of theirs to migrate.
  const legacy = async (file: string, args: string[]) =>
    runner.probe(cmd(file, args)).then(
      (r) => (r.exitCode === 0 ? r.stdout : ""),
      () => "",
    );
  const ipsets = opts.firewall ? parseIpsetSave(await legacy("ipset", ["save"])) : {};
  const natRules = opts.firewall
    ? parseIptablesS(await legacy("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"]))
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

import { formatTarget } from "../../lib/exec/command.js";
import { type CliDeps, loadCluster } from "../context.js";
import type { Parent } from "../program.js";
import { table } from "./table.js";

/**
 * `host list` and `router list`: the machines of the cluster file, read from it alone (no
 * machine is contacted), so shell completion can name them cheaply. Each JSON record starts
 * with its name (completion-script.ts reads that key).
 */
export function registerHostList(host: Parent, deps: CliDeps): void {
  host
    .command("list")
    .description("list the hosts of the cluster file")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const hosts = loadCluster(deps, g.cluster).hosts.map((h) => ({
        name: h.name,
        address: h.address,
        target: formatTarget(h.target),
        libvirt: h.libvirt,
        site: h.site,
      }));
      if (g.json) return deps.stdout(JSON.stringify(hosts));
      const rows = [["NAME", "ADDRESS", "TARGET", "LIBVIRT", "SITE"]];
      for (const h of hosts) rows.push([h.name, h.address, h.target, h.libvirt, h.site]);
      for (const line of table(rows)) deps.stdout(line);
    });
}

export function registerRouterList(router: Parent, deps: CliDeps): void {
  router
    .command("list")
    .description("list the routers of the cluster file")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const routers = loadCluster(deps, g.cluster).routers.map((r) => ({
        name: r.name,
        address: r.address,
        target: formatTarget(r.target),
        site: r.site,
      }));
      if (g.json) return deps.stdout(JSON.stringify(routers));
      const rows = [["NAME", "ADDRESS", "TARGET", "SITE"]];
      for (const r of routers) rows.push([r.name, r.address, r.target, r.site]);
      for (const line of table(rows)) deps.stdout(line);
    });
}

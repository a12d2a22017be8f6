import { formatTarget } from "../../lib/exec/command.js";
import { type CliDeps, loadCluster } from "../context.js";
import type { Cluster } from "../net/cluster.js";
import type { Parent } from "../program.js";
import { table } from "./table.js";

/**
 * `host list` and `router list`: the machines of the cluster file, read from it alone (no
 * machine is contacted), so shell completion can name them cheaply. Each JSON record starts
 * with its name (completion-script.ts reads that key); the table shows `columns` of them.
 */
function registerMachineList(
  parent: Parent,
  deps: CliDeps,
  what: string,
  columns: readonly string[],
  records: (c: Cluster) => Record<string, string>[],
): void {
  parent
    .command("list")
    .description(`list the ${what} of the cluster file`)
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const rows = records(loadCluster(deps, g.cluster));
      if (g.json) return deps.stdout(JSON.stringify(rows));
      const lines = [
        columns.map((k) => k.toUpperCase()),
        ...rows.map((r) => columns.map((k) => r[k] ?? "")),
      ];
      for (const line of table(lines)) deps.stdout(line);
    });
}

export function registerHostList(host: Parent, deps: CliDeps): void {
  const columns = ["name", "address", "target", "libvirt", "site"];
  registerMachineList(host, deps, "hosts", columns, (c) =>
    c.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      target: formatTarget(h.target),
      libvirt: h.libvirt,
      site: h.site,
    })),
  );
}

export function registerRouterList(router: Parent, deps: CliDeps): void {
  const columns = ["name", "address", "target", "site"];
  registerMachineList(router, deps, "routers", columns, (c) =>
    c.routers.map((r) => ({
      name: r.name,
      address: r.address,
      target: formatTarget(r.target),
      site: r.site,
    })),
  );
}

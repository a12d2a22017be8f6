import type { Command } from "commander";
import { type CliDeps, type GlobalOptions, openStore } from "../context.js";
import { table } from "./table.js";

export function registerNetList(net: Command, deps: CliDeps, globals: () => GlobalOptions): void {
  net
    .command("list")
    .description("list networks in the store")
    .action(() => {
      const g = globals();
      const data = openStore(g).read();
      if (g.json) {
        deps.stdout(JSON.stringify(data.networks));
        return;
      }
      const rows = [["NAME", "SUBNET", "GATEWAY", "BRIDGE", "BRIDGE-IP", "TABLE", "PORTS"]];
      for (const n of data.networks) {
        const ports = data.ports.filter((p) => p.network === n.name).length;
        rows.push([
          n.name,
          n.subnet,
          n.gateway,
          n.bridge,
          n.bridgeIp,
          String(n.table),
          String(ports),
        ]);
      }
      for (const line of table(rows)) deps.stdout(line);
    });
}

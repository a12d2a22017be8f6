import { type CliDeps, openStore } from "../context.js";
import type { Parent } from "../program.js";
import { table } from "./table.js";

export function registerNetList(net: Parent, deps: CliDeps): void {
  net
    .command("list")
    .description("list networks in the store")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
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

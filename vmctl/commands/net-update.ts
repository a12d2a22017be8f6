import { AppError } from "../../lib/errors.js";
import { type CliDeps, openStore } from "../context.js";
import { findNetwork } from "../net/network.js";
import type { Parent } from "../program.js";

export function registerNetUpdate(net: Parent, deps: CliDeps): void {
  net
    .command("update")
    .description("change a network's settings (then run router apply)")
    .argument("<name>", "network name")
    .option("--internet", "internet egress (NAT) on")
    .option("--no-internet", "internet egress off: the router drops what leaves by its uplink")
    .action(async (name, o, self) => {
      const g = self.optsWithGlobals();
      if (o.internet === undefined)
        throw new AppError("INVALID", "nothing to change: give --internet or --no-internet");
      const internet = o.internet;
      await openStore(g).update(async (data) => {
        findNetwork(data, name);
        const networks = data.networks.map((n) => {
          if (n.name !== name) return n;
          const { internet: _, ...rest } = n;
          return internet ? rest : { ...rest, internet: false };
        });
        // Under --dry-run the store discards the write.
        return { data: { ...data, networks }, result: undefined };
      });
      deps.stdout(
        `${g.dryRun ? "would set" : "set"} network ${name} internet ${internet ? "on" : "off"}; now run: vmctl router apply`,
      );
    });
}

import { type CliDeps, openStore } from "../context.js";
import { defineNetwork } from "../net/network.js";
import type { Parent } from "../program.js";

export function registerNetCreate(net: Parent, deps: CliDeps): void {
  net
    .command("create")
    .description("add a network to the store (then run host apply and router apply)")
    .argument("<name>", "network name")
    .requiredOption("--subnet <cidr>", "VM subnet, e.g. 10.10.10.0/24")
    .option("--gateway <ip>", "gateway VMs use (default: first address)")
    .option("--bridge-ip <ip>", "address of the bridge on every host (default: second address)")
    .option("--no-internet", "no internet egress (NAT) from this network (default: on)")
    .action(async (name, o, self) => {
      const g = self.optsWithGlobals();
      const created = await openStore(g).update(async (data) => {
        const n = defineNetwork(data, {
          name,
          subnet: o.subnet,
          ...(o.gateway === undefined ? {} : { gateway: o.gateway }),
          ...(o.bridgeIp === undefined ? {} : { bridgeIp: o.bridgeIp }),
        });
        if (o.internet === false) n.internet = false;
        // Under --dry-run the store discards the write.
        return { data: { ...data, networks: [...data.networks, n] }, result: n };
      });
      if (g.json) deps.stdout(JSON.stringify(created));
      else
        deps.stdout(
          `${g.dryRun ? "would create" : "created"} network ${created.name} ${created.subnet} ` +
            `(gateway ${created.gateway}, bridge ${created.bridge} ${created.bridgeIp}, table ${created.table}, internet ${created.internet === false ? "off" : "on"}); ` +
            "now run: vmctl host apply && vmctl router apply",
        );
    });
}

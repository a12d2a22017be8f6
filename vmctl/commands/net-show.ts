import { type CliDeps, fabricContext } from "../context.js";
import { planMachines } from "../net/converge.js";
import { findNetwork } from "../net/network.js";
import type { Parent } from "../program.js";

export function registerNetShow(net: Parent, deps: CliDeps): void {
  net
    .command("show")
    .description(
      "each entry the network needs on every host and the router, and whether it is in place",
    )
    .argument("<name>", "network name")
    .action(async (name, _o, self) => {
      // Only reads: --dry-run changes nothing here.
      const { dryRun: _, ...g } = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const data = ctx.store.read();
      const n = findNetwork(data, name);
      const plans = await planMachines(ctx, data, {
        hosts: ctx.cluster.hosts.map((h) => h.name),
        router: true,
      });
      const machines = plans.map((p) => ({
        machine: p.machine,
        entries: p.items
          .filter((i) => i.network === name || i.network === undefined)
          .map((i) => ({ what: i.what, present: i.present })),
      }));
      const ports = data.ports.filter((p) => p.network === name);
      if (g.json) {
        deps.stdout(JSON.stringify({ network: n, ports, machines }));
        return;
      }
      deps.stdout(
        `network ${n.name} ${n.subnet} gateway ${n.gateway} bridge ${n.bridge} ${n.bridgeIp} ${n.mac} table ${n.table} rule pref ${n.rulePref}`,
      );
      for (const p of ports) deps.stdout(`port ${p.ip} on ${p.host} dev ${p.dev}`);
      for (const m of machines) {
        deps.stdout(`${m.machine}:`);
        for (const e of m.entries) deps.stdout(`  [${e.present ? "x" : " "}] ${e.what}`);
      }
    });
}

import { AppError } from "../../lib/errors.js";
import { type CliDeps, openStore } from "../context.js";
import { findNetwork } from "../net/network.js";
import type { Parent } from "../program.js";

export function registerNetDelete(net: Parent, deps: CliDeps): void {
  net
    .command("delete")
    .description("remove a network from the store (then run host apply and router apply)")
    .argument("<name>", "network name")
    .option("--force", "delete even while VM ports use it (their records are dropped too)")
    .action(async (name, o, self) => {
      const g = self.optsWithGlobals();
      const dropped = await openStore(g).update(async (data) => {
        findNetwork(data, name);
        const ports = data.ports.filter((p) => p.network === name);
        if (ports.length > 0 && !o.force)
          throw new AppError(
            "IN_USE",
            `network ${name} is used by ${ports.length} VM port(s) (${ports.map((p) => p.ip).join(", ")}); detach them or use --force`,
          );
        const rules = (data.firewall ?? []).filter((r) => r.from === name || r.to === name);
        if (rules.length > 0)
          throw new AppError(
            "IN_USE",
            `network ${name} is named by perimeter rule(s) ${rules.map((r) => `#${r.id}`).join(", ")}; delete them first (vmctl fw del ID)`,
          );
        const next = {
          ...data,
          networks: data.networks.filter((n) => n.name !== name),
          // Its default group (stored once edited) goes with it.
          securityGroups: data.securityGroups.filter((g) => g.network !== name),
          ports: data.ports.filter((p) => p.network !== name),
        };
        // Under --dry-run the store discards the write.
        return { data: next, result: ports.length };
      });
      deps.stdout(
        `${g.dryRun ? "would delete" : "deleted"} network ${name}${dropped ? ` and ${dropped} port record(s)` : ""}; ` +
          "now run: vmctl host apply && vmctl router apply",
      );
    });
}

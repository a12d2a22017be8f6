import type { Command } from "commander";
import { type CliDeps, fabricContext, type GlobalOptions } from "../context.js";
import { converge, type MachinePlan } from "../net/converge.js";

export function summarize(deps: CliDeps, plans: MachinePlan[], dryRun: boolean): void {
  for (const p of plans) {
    const n = p.steps.length;
    if (n === 0) deps.stdout(`${p.machine}: up to date`);
    else deps.stdout(`${p.machine}: ${n} command(s) ${dryRun ? "would run" : "applied"}`);
  }
}

export function registerHostApply(
  host: Command,
  deps: CliDeps,
  globals: () => GlobalOptions,
): void {
  host
    .command("apply")
    .description("bring one host (or all) to the state the network store describes")
    .argument("[host]", "host name from the cluster file (default: all hosts)")
    .action(async (name: string | undefined) => {
      const g = globals();
      const ctx = fabricContext(deps, g);
      const hosts = name ? [name] : ctx.cluster.hosts.map((h) => h.name);
      summarize(deps, await converge(ctx, { hosts, router: false }), g.dryRun === true);
    });
}

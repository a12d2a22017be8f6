import { LOCAL } from "../../lib/exec/command.js";
import { type CliDeps, fabricContext } from "../context.js";
import { converge, type MachinePlan } from "../net/converge.js";
import { findHost } from "../net/fabric.js";
import type { Parent } from "../program.js";
import { describeFindings, reconcileDhcp } from "../vm/dhcp-reconcile.js";

export function summarize(deps: CliDeps, plans: MachinePlan[], dryRun: boolean): void {
  for (const p of plans) {
    const n = p.steps.length;
    if (n === 0) deps.stdout(`${p.machine}: up to date`);
    else deps.stdout(`${p.machine}: ${n} command(s) ${dryRun ? "would run" : "applied"}`);
  }
}

export function registerHostApply(host: Parent, deps: CliDeps): void {
  host
    .command("apply")
    .description(
      "bring one host (or all) to the state the network store describes; DHCP reservations and leases to the VMs that exist there",
    )
    .argument("[host]", "host name from the cluster file (default: all hosts)")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const hosts = name ? [name] : ctx.cluster.hosts.map((h) => h.name);
      const dryRun = g.dryRun === true;
      summarize(deps, await converge(ctx, { hosts, router: false }), dryRun);
      const virsh = ctx.runnerFor(LOCAL);
      for (const h of hosts) {
        const findings = await reconcileDhcp(ctx, virsh, findHost(ctx.cluster, h));
        for (const line of describeFindings(h, findings, dryRun)) deps.stdout(line);
      }
    });
}

import { type CliDeps, fabricContext, openStore } from "../context.js";
import { fwRuleIpGroups } from "../net/fw-rules.js";
import {
  addToIpGroup,
  createIpGroup,
  deleteIpGroup,
  findIpGroup,
  ipGroupUsers,
  removeFromIpGroup,
} from "../net/ip-groups.js";
import type { StoreData } from "../net/model.js";
import { applySecurityGroups } from "../net/sg-apply.js";
import type { GlobalOptions, Parent } from "../program.js";
import { table } from "./table.js";

/**
 * One store change, applied to the hosts' security group sets that use the IP group (element
 * updates). Under --dry-run the runners print the nft input and the store discards the write.
 */
async function change(
  deps: CliDeps,
  g: GlobalOptions,
  fn: (data: StoreData) => StoreData,
): Promise<StoreData> {
  const ctx = fabricContext(deps, g);
  return ctx.store.update(async (data) => {
    const next = fn(data);
    await applySecurityGroups(ctx, next, data);
    return { data: next, result: next };
  });
}

export function registerIpg(program: Parent, deps: CliDeps): void {
  const ipg = program
    .command("ipg")
    .description("IP groups: named sets of outside addresses for ipg:NAME in rules");
  const done = (g: GlobalOptions, verb: string, past: string, rest: string) =>
    deps.stdout(`${g.dryRun ? `would ${verb}` : past} ${rest}`);
  // Hosts' sets are updated here; a perimeter rule's copy on the routers waits for router
  // apply, as every perimeter change does (vmctl fw).
  const routers = (data: StoreData, name: string) =>
    (data.firewall ?? []).some((r) => fwRuleIpGroups(r).includes(name))
      ? "; now run: vmctl router apply"
      : "";
  ipg
    .command("create")
    .description("create an IP group, optionally with its first CIDRs")
    .argument("<name>")
    .argument("[cidrs...]", "addresses or CIDRs, e.g. 198.51.100.0/24 203.0.113.7")
    .action(async (name, cidrs, _o, self) => {
      const g = self.optsWithGlobals();
      await change(deps, g, (d) => createIpGroup(d, name, cidrs));
      done(g, "create", "created", `IP group ${name} (${cidrs.length} CIDR(s))`);
    });
  ipg
    .command("add")
    .description("add CIDRs to an IP group")
    .argument("<name>")
    .argument("<cidrs...>")
    .action(async (name, cidrs, _o, self) => {
      const g = self.optsWithGlobals();
      const next = await change(deps, g, (d) => addToIpGroup(d, name, cidrs));
      done(g, "add", "added", `${cidrs.join(" ")} to IP group ${name}${routers(next, name)}`);
    });
  ipg
    .command("del")
    .description("remove CIDRs from an IP group")
    .argument("<name>")
    .argument("<cidrs...>")
    .action(async (name, cidrs, _o, self) => {
      const g = self.optsWithGlobals();
      const next = await change(deps, g, (d) => removeFromIpGroup(d, name, cidrs));
      done(
        g,
        "remove",
        "removed",
        `${cidrs.join(" ")} from IP group ${name}${routers(next, name)}`,
      );
    });
  ipg
    .command("delete")
    .description("delete an IP group no rule uses")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      await change(deps, g, (d) => deleteIpGroup(d, name));
      done(g, "delete", "deleted", `IP group ${name}`);
    });
  ipg
    .command("list")
    .description("list IP groups")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const data = openStore(g).read();
      if (g.json) {
        deps.stdout(JSON.stringify(data.ipGroups));
        return;
      }
      const rows = [["NAME", "CIDRS", "USED-BY"]];
      for (const x of data.ipGroups)
        rows.push([x.name, String(x.cidrs.length), String(ipGroupUsers(data, x.name).length)]);
      for (const line of table(rows)) deps.stdout(line);
    });
  ipg
    .command("show")
    .description("an IP group's CIDRs and what uses it")
    .argument("<name>")
    .action((name, _o, self) => {
      const g = self.optsWithGlobals();
      const data = openStore(g).read();
      const x = findIpGroup(data, name);
      const usedBy = ipGroupUsers(data, name);
      if (g.json) {
        deps.stdout(JSON.stringify({ ...x, usedBy }));
        return;
      }
      deps.stdout(`ip group ${x.name}: ${x.cidrs.length} CIDR(s)`);
      for (const c of x.cidrs) deps.stdout(`  ${c}`);
      deps.stdout(`used by: ${usedBy.length ? usedBy.join(", ") : "nothing"}`);
    });
}

import type { CliDeps, GlobalOptions } from "../context.js";
import type { Parent } from "../program.js";
import { deleteVm } from "../vm/delete.js";
import { startVm } from "../vm/start.js";
import { findVm, listVms, onDomain } from "../vm/vms.js";
import { vmContext } from "./vm-deps.js";

/** What the last line says: `web1: stop`, or under --dry-run `web1: would stop`. */
const done = (g: GlobalOptions, verb: string) => (g.dryRun ? `would ${verb}` : verb);

export function registerVmPower(program: Parent, deps: CliDeps): void {
  const simple = (verb: string, description: string, verbFor: (force: boolean) => string) =>
    program
      .command(verb)
      .description(description)
      .argument("<name>")
      .option("--force", "power off at once instead of asking the guest")
      .action(async (name, o, self) => {
        const g = self.optsWithGlobals();
        const ctx = vmContext(deps, g);
        const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
        await ctx.virsh.run(onDomain(vm.host, verbFor(o.force === true), name, true));
        deps.stdout(`${name}: ${done(g, verb)}`);
      });
  program
    .command("start")
    .description("start a stopped VM (re-plugging its port if the host lost it)")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      await startVm(await findVm(ctx.fabric.cluster, ctx.virsh, name), ctx);
      deps.stdout(`${name}: ${done(g, "start")}`);
    });
  simple("stop", "shut a VM down (--force: power off)", (force) =>
    force ? "destroy" : "shutdown",
  );
  simple("reboot", "reboot a VM (--force: reset)", (force) => (force ? "reset" : "reboot"));

  program
    .command("delete")
    .description("delete VMs and everything made for them (idempotent)")
    .argument("<names...>")
    .option("--keep-disk", "keep the VM's disk overlay")
    .action(async (names, o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vms = await listVms(ctx.fabric.cluster, ctx.virsh, deps.stderr);
      for (const name of names) {
        const vm = vms.find((v) => v.instance.name === name);
        if (!vm) {
          deps.stdout(`${name}: no such VM (nothing to delete)`);
          continue;
        }
        await deleteVm(vm, o.keepDisk === true, ctx);
        deps.stdout(`${name}: ${g.dryRun ? "would delete" : "deleted"}`);
      }
    });
}

import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { deleteVm } from "../vm/delete.js";
import { startVm } from "../vm/start.js";
import { findVm, listVms, virsh } from "../vm/vms.js";
import { vmContext } from "./vm-deps.js";

export function registerVmPower(program: Parent, deps: CliDeps): void {
  const simple = (
    verb: string,
    description: string,
    args: (name: string, force: boolean) => string[],
  ) =>
    program
      .command(verb)
      .description(description)
      .argument("<name>")
      .option("--force", "power off at once instead of asking the guest")
      .action(async (name, o, self) => {
        const ctx = vmContext(deps, self.optsWithGlobals());
        const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
        await ctx.virsh.run(virsh(vm.host, args(name, o.force === true), true));
        deps.stdout(`${name}: ${verb}`);
      });
  program
    .command("start")
    .description("start a stopped VM (re-plugging its port if the host lost it)")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const ctx = vmContext(deps, self.optsWithGlobals());
      await startVm(await findVm(ctx.fabric.cluster, ctx.virsh, name), ctx);
      deps.stdout(`${name}: start`);
    });
  simple("stop", "shut a VM down (--force: power off)", (n, force) =>
    force ? ["destroy", n] : ["shutdown", n],
  );
  simple("reboot", "reboot a VM (--force: reset)", (n, force) =>
    force ? ["reset", n] : ["reboot", n],
  );

  program
    .command("delete")
    .description("delete VMs and everything made for them (idempotent)")
    .argument("<names...>")
    .option("--keep-disk", "keep the VM's disk overlay")
    .action(async (names, o, self) => {
      const ctx = vmContext(deps, self.optsWithGlobals());
      const vms = await listVms(ctx.fabric.cluster, ctx.virsh, deps.stderr);
      for (const name of names) {
        const vm = vms.find((v) => v.instance.name === name);
        if (!vm) {
          deps.stdout(`${name}: no such VM (nothing to delete)`);
          continue;
        }
        await deleteVm(vm, o.keepDisk === true, ctx);
        deps.stdout(`${name}: deleted`);
      }
    });
}

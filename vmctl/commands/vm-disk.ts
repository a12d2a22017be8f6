import { Option } from "@commander-js/extra-typings";
import type { CliDeps, GlobalOptions } from "../context.js";
import type { Parent } from "../program.js";
import { createSnapshot, deleteSnapshot, readOverlay, revertSnapshot } from "../vm/overlay.js";
import { resizeVm } from "../vm/resize.js";
import { findVm } from "../vm/vms.js";
import { size, wholeNumber } from "./flag-parsers.js";
import { table } from "./table.js";
import { vmContext } from "./vm-deps.js";

const memory = size("--memory", "128M");
const would = (g: GlobalOptions, verb: string, past: string) => (g.dryRun ? `would ${verb}` : past);

/** resize and snapshot: offline changes to a VM's definition and its qcow2 overlay. */
export function registerVmDisk(program: Parent, deps: CliDeps): void {
  program
    .command("resize")
    .description("change a shut-off VM's vCPUs and memory, or grow its disk")
    .argument("<name>")
    .option("--cpus <n>", "virtual CPUs", wholeNumber("--cpus", 1, 64))
    .addOption(new Option("--memory <size>", "memory, e.g. 2G").argParser(memory))
    .option("--disk <size>", "grow the disk to this size, e.g. 40G", size("--disk"))
    .action(async (name, o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
      const lines = await resizeVm(
        vm,
        {
          ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
          ...(o.memory ? { memoryMiB: Math.round(o.memory.bytes / 2 ** 20) } : {}),
          ...(o.disk ? { disk: o.disk } : {}),
        },
        ctx,
      );
      if (lines.length === 0) return deps.stdout(`${name}: already that size`);
      deps.stdout(`${name}: ${would(g, "resize", "resized")}: ${lines.join(", ")}`);
    });

  const snap = program
    .command("snapshot")
    .description("internal qcow2 snapshots of a shut-off VM's disk overlay");
  const change = (verb: string, description: string, past: string, f: typeof createSnapshot) =>
    snap
      .command(verb)
      .description(description)
      .argument("<vm>")
      .argument("<snapshot>")
      .action(async (vmName, snapshot, _o, self) => {
        const g = self.optsWithGlobals();
        const ctx = vmContext(deps, g);
        const vm = await findVm(ctx.fabric.cluster, ctx.virsh, vmName);
        await f(ctx.fabric.runnerFor(vm.host.target), vm, snapshot);
        deps.stdout(`${vmName}: ${would(g, `${verb} snapshot`, past)} ${snapshot}`);
      });
  change("create", "snapshot the disk of a shut-off VM", "snapshot created:", createSnapshot);
  snap
    .command("list")
    .description("a VM's snapshots (also while it runs)")
    .argument("<vm>")
    .action(async (vmName, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, vmName);
      const info = await readOverlay(ctx.fabric.runnerFor(vm.host.target), vm);
      if (g.json) return deps.stdout(JSON.stringify(info.snapshots));
      const rows = [["NAME", "ID", "TAKEN"]];
      for (const s of info.snapshots) rows.push([s.name, s.id, s.date]);
      for (const line of table(rows)) deps.stdout(line);
    });
  change(
    "revert",
    "put a shut-off VM's disk back to a snapshot (later changes are lost)",
    "reverted to snapshot",
    revertSnapshot,
  );
  change("delete", "delete a snapshot of a shut-off VM", "deleted snapshot", deleteSnapshot);
}

import { LOCAL } from "../../lib/exec/command.js";
import { DryRunRunner } from "../../lib/exec/runner.js";
import { type CliDeps, fabricContext, type GlobalOptions } from "../context.js";
import { probeVirtType } from "../libvirt/virt-type.js";
import type { VmContext } from "../vm/create.js";
import { ImageStore } from "../vm/images.js";

/** What VM commands need, built from the CLI's deps and global options. */
export function vmContext(deps: CliDeps, g: GlobalOptions): VmContext {
  const fabric = fabricContext(deps, g);
  return {
    fabric: { ...fabric, onCommand: g.verbose ? (l) => deps.stderr(l) : () => {} },
    virsh: fabric.runnerFor(LOCAL),
    progress: (line) => deps.stderr(line),
    virtType: (host) => probeVirtType(fabric.runnerFor(host.target)),
  };
}

/** With --dry-run the store's changes (all Runner commands) are printed instead of run. */
export function imageStore(deps: CliDeps, g: GlobalOptions): ImageStore {
  const real = deps.runnerFor(LOCAL);
  const dry = g.dryRun === true;
  return new ImageStore(g.stateDir, dry ? new DryRunRunner(real, deps.stdout) : real, dry);
}

import { AppError } from "../../lib/errors.js";
import { type CliDeps, fabricContext, type GlobalOptions } from "../context.js";
import { attachPort, detachPort } from "../net/port.js";
import type { Parent } from "../program.js";

function noDryRun(g: GlobalOptions): GlobalOptions {
  if (g.dryRun) throw new AppError("USAGE", "port attach/detach do not support --dry-run");
  return g;
}

/** Internal: what the libvirt integration calls per VM interface; tests use veths. */
export function registerPort(program: Parent, deps: CliDeps): void {
  const port = program.command("port").description("(internal) plug VM interfaces into networks");
  port
    .command("attach")
    .argument("<network>")
    .requiredOption("--host <name>", "host the interface is on")
    .requiredOption("--ip <address>", "the VM's address")
    .requiredOption("--dev <ifname>", "the tap or veth on the host")
    .requiredOption("--mac <address>", "the VM's MAC: the only source MAC its port may send")
    .action(async (network, o, self) => {
      const ctx = fabricContext(deps, noDryRun(self.optsWithGlobals()));
      await attachPort(ctx, { network, host: o.host, ip: o.ip, dev: o.dev, mac: o.mac });
      deps.stdout(`attached ${o.ip} (${o.dev}) to ${network} on ${o.host}`);
    });
  port
    .command("detach")
    .argument("<network>")
    .requiredOption("--ip <address>", "the VM's address")
    .action(async (network, o, self) => {
      const ctx = fabricContext(deps, noDryRun(self.optsWithGlobals()));
      const p = await detachPort(ctx, { network, ip: o.ip });
      deps.stdout(`detached ${p.ip} (${p.dev}) from ${network} on ${p.host}`);
    });
}

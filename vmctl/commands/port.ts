import { type CliDeps, fabricContext } from "../context.js";
import { attachPort, detachPort } from "../net/port.js";
import type { Parent } from "../program.js";

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
      const g = self.optsWithGlobals();
      await attachPort(fabricContext(deps, g), { network, ...o });
      deps.stdout(
        `${g.dryRun ? "would attach" : "attached"} ${o.ip} (${o.dev}) to ${network} on ${o.host}`,
      );
    });
  port
    .command("detach")
    .argument("<network>")
    .requiredOption("--ip <address>", "the VM's address")
    .action(async (network, o, self) => {
      const g = self.optsWithGlobals();
      const p = await detachPort(fabricContext(deps, g), { network, ip: o.ip });
      deps.stdout(
        `${g.dryRun ? "would detach" : "detached"} ${p.ip} (${p.dev}) from ${network} on ${p.host}`,
      );
    });
}

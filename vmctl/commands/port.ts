import { type CliDeps, fabricContext } from "../context.js";
import { attachPort, detachPort } from "../net/port.js";
import type { Parent } from "../program.js";

/** `--sg a,b` as a list; the groups are checked against the store where the port is attached. */
export function sgList(text: string): string[] {
  return text.split(",").map((s) => s.trim());
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
    .option(
      "--sg <groups>",
      "security groups, comma-separated (default: the network's default group)",
    )
    .action(async (network, o, self) => {
      const g = self.optsWithGlobals();
      const { sg, ...rest } = o;
      await attachPort(fabricContext(deps, g), {
        network,
        ...rest,
        ...(sg !== undefined ? { groups: sgList(sg) } : {}),
      });
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

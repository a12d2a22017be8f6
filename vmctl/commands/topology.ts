import { Option } from "@commander-js/extra-typings";
import { AppError, CommandError, lastLine } from "../../lib/errors.js";
import { cmd, LOCAL } from "../../lib/exec/command.js";
import type { CliDeps } from "../context.js";
import { buildTopology, topologyText } from "../net/topology.js";
import { topologyDot } from "../net/topology-dot.js";
import type { Parent } from "../program.js";
import { listVms } from "../vm/vms.js";
import { vmContext } from "./vm-deps.js";

export function registerTopology(program: Parent, deps: CliDeps): void {
  program
    .command("topology")
    .description("hosts, the router, networks, VMs and ports, and routes: as text, DOT or SVG")
    .addOption(
      new Option("--format <format>", "text, dot (graphviz) or svg (rendered by graphviz's dot)")
        .choices(["text", "dot", "svg"] as const)
        .default("text" as const),
    )
    .action(async (o, self) => {
      const { dryRun: _, ...g } = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const data = ctx.fabric.store.read();
      const vms = (await listVms(ctx.fabric.cluster, ctx.virsh, deps.stderr)).map((v) => ({
        name: v.instance.name,
        host: v.host.name,
        state: v.state,
        ip: v.instance.addresses[0],
      }));
      const t = buildTopology(ctx.fabric.cluster, data, vms);
      if (g.json) return deps.stdout(JSON.stringify(t));
      if (o.format === "text") {
        for (const line of topologyText(t)) deps.stdout(line);
        return;
      }
      const dot = `${topologyDot(t).join("\n")}\n`;
      if (o.format === "dot") return deps.stdout(dot.trimEnd());
      const svg = await deps
        .runnerFor(LOCAL)
        .run({ ...cmd("dot", ["-Tsvg"]), input: dot })
        .catch((err: unknown) => {
          if (err instanceof CommandError && err.exitCode === undefined)
            throw new AppError(
              "MISSING_TOOL",
              "graphviz's dot not found (install graphviz), or print the graph with --format dot",
            );
          throw new AppError(
            "DOT",
            `dot -Tsvg failed: ${err instanceof CommandError ? lastLine(err.stderr) : String(err)}`,
          );
        });
      deps.stdout(svg.stdout.trimEnd());
    });
}

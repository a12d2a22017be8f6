import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { type CliDeps, fabricContext } from "../context.js";
import { birdPaths } from "../net/bird-config.js";
import { parseRoutes } from "../net/machine-state.js";
import { type Observed, parseBirdProtocols, routesReport } from "../net/routes.js";
import type { Parent } from "../program.js";

async function protocols(runner: Runner, stateDir: string) {
  const r = await runner.probe(
    cmd("birdc", ["-s", birdPaths(stateDir).socket, "show", "protocols"]),
  );
  return r.exitCode === 0 ? parseBirdProtocols(r.stdout) : undefined;
}

export function registerRoutes(program: Parent, deps: CliDeps): void {
  program
    .command("routes")
    .description(
      "BGP sessions per machine and the VM routes each router holds; flags what is missing",
    )
    .action(async (_o, self) => {
      // Only reads: --dry-run changes nothing here.
      const { dryRun: _, ...g } = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const { cluster } = ctx;
      const ports = ctx.store.read().ports;
      const bgp = cluster.routing === "bgp";
      const observed: Observed[] = [
        ...(await Promise.all(
          cluster.routers.map(async (r): Promise<Observed> => {
            const runner = ctx.runnerFor(r.target);
            const routes = await runner.run(
              cmd("ip", ["-N", "-json", "-4", "route", "show", "table", "main"]),
            );
            return {
              machine: r.name,
              routes: parseRoutes(routes.stdout),
              ...(bgp ? { protocols: await protocols(runner, r.stateDir) } : {}),
            };
          }),
        )),
        ...(bgp
          ? await Promise.all(
              cluster.hosts.map(async (h) => ({
                machine: h.name,
                protocols: await protocols(ctx.runnerFor(h.target), h.stateDir),
              })),
            )
          : []),
      ];
      const report = routesReport(cluster, ports, observed);
      if (g.json) deps.stdout(JSON.stringify(report));
      else for (const l of [...report.lines, ...report.problems]) deps.stdout(l);
      if (report.problems.length > 0)
        throw new AppError("ROUTES", `${report.problems.length} problem(s), listed above`);
    });
}

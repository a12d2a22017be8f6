import { type CliDeps, fabricContext } from "../context.js";
import { converge } from "../net/converge.js";
import type { Parent } from "../program.js";
import { summarize } from "./host-apply.js";

export function registerRouterApply(router: Parent, deps: CliDeps): void {
  router
    .command("apply")
    .description("bring one router (or all) to the state the network store describes")
    .argument("[router]", "router name from the cluster file (default: all routers)")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const which = name
        ? { hosts: [], router: false, routers: [name] }
        : { hosts: [], router: true };
      summarize(deps, await converge(ctx, which), g.dryRun === true);
    });
}

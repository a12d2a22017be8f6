import { type CliDeps, fabricContext } from "../context.js";
import { converge } from "../net/converge.js";
import type { Parent } from "../program.js";
import { summarize } from "./host-apply.js";

export function registerRouterApply(router: Parent, deps: CliDeps): void {
  router
    .command("apply")
    .description("bring the router to the state the network store describes")
    .action(async (_o, self) => {
      const g = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      summarize(deps, await converge(ctx, { hosts: [], router: true }), g.dryRun === true);
    });
}

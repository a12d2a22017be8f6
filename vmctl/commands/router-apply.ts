import type { Command } from "commander";
import { type CliDeps, fabricContext, type GlobalOptions } from "../context.js";
import { converge } from "../net/converge.js";
import { summarize } from "./host-apply.js";

export function registerRouterApply(
  router: Command,
  deps: CliDeps,
  globals: () => GlobalOptions,
): void {
  router
    .command("apply")
    .description("bring the router to the state the network store describes")
    .action(async () => {
      const g = globals();
      const ctx = fabricContext(deps, g);
      summarize(deps, await converge(ctx, { hosts: [], router: true }), g.dryRun === true);
    });
}

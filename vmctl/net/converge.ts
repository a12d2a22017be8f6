import { AppError, errorMessage } from "../../lib/errors.js";
import type { Runner } from "../../lib/exec/runner.js";
import { applySteps, rollback } from "./apply.js";
import { type FabricContext, findHost, hostDesired, routerDesired } from "./fabric.js";
import { hostItems, hostSysctlKeys, planHost } from "./host-plan.js";
import type { MachineState } from "./machine-state.js";
import type { StoreData } from "./model.js";
import type { Item, Step } from "./plan-items.js";
import { planPortLinks, readPortLinks } from "./port-links.js";
import {
  portSecurityItems,
  portSecuritySteps,
  readPortSecurityTable,
  securityDesired,
} from "./port-security.js";
import { preflight } from "./preflight.js";
import { readState } from "./read-state.js";
import { planRouter, routerItems, routerSysctlKeys } from "./router-plan.js";

export const HOST_TOOLS = ["ip", "sysctl", "arping", "nft", "bridge"];
export const ROUTER_TOOLS = ["ip", "sysctl", "ipset", "iptables"];

/** A machine with its desired-vs-current comparison, computed before anything is changed. */
export interface MachinePlan {
  machine: string;
  runner: Runner;
  items: Item[];
  steps: Step[];
}

async function planForHost(
  ctx: FabricContext,
  data: StoreData,
  name: string,
): Promise<MachinePlan> {
  const host = findHost(ctx.cluster, name);
  const runner = ctx.runnerFor(host.target);
  await preflight(runner, host.name, HOST_TOOLS);
  const d = hostDesired(ctx.cluster, data, host);
  const sec = securityDesired(d.networks, d.ports);
  const [cur, table, links] = await Promise.all([
    readState(runner, { sysctls: hostSysctlKeys(d), firewall: false }),
    readPortSecurityTable(runner),
    readPortLinks(runner),
  ]);
  // Port security last: bridges exist by then, and a failure rolls the rest back.
  return {
    machine: host.name,
    runner,
    items: [...hostItems(d, cur), ...portSecurityItems(sec, table, d.ports)],
    steps: [
      ...planHost(d, cur),
      ...portSecuritySteps(sec, table),
      ...planPortLinks(sec.ports, links),
    ],
  };
}

async function planForRouter(ctx: FabricContext, data: StoreData): Promise<MachinePlan> {
  const r = ctx.cluster.router;
  const runner = ctx.runnerFor(r.target);
  await preflight(runner, r.name, ROUTER_TOOLS);
  const d = routerDesired(ctx.cluster, data);
  const cur: MachineState = await readState(runner, {
    sysctls: routerSysctlKeys(d),
    firewall: true,
  });
  return { machine: r.name, runner, items: routerItems(d, cur), steps: planRouter(d, cur) };
}

/** Plans every named machine (hosts by name, "router" role by flag) from one store snapshot. */
export async function planMachines(
  ctx: FabricContext,
  data: StoreData,
  which: { hosts: string[]; router: boolean },
): Promise<MachinePlan[]> {
  const plans: MachinePlan[] = [];
  for (const name of which.hosts) plans.push(await planForHost(ctx, data, name));
  if (which.router) plans.push(await planForRouter(ctx, data));
  return plans;
}

/**
 * Converges machines to the store. Everything is checked and planned first (reachability,
 * tools, conflicts); if applying then fails on one machine, that machine and the ones already
 * done are rolled back, so a failure leaves nothing half-applied where undo is possible.
 */
export async function converge(
  ctx: FabricContext,
  which: { hosts: string[]; router: boolean },
): Promise<MachinePlan[]> {
  // The lock keeps ports from changing between reading the store and applying it.
  return ctx.store.update(async (data) => {
    const plans = await planMachines(ctx, data, which);
    const done: { plan: MachinePlan; applied: Step[] }[] = [];
    for (const plan of plans) {
      try {
        const applied = await applySteps(plan.runner, plan.machine, plan.steps, (line) =>
          ctx.onCommand(`${plan.machine}: ${line}`),
        );
        done.push({ plan, applied });
      } catch (err) {
        let failed = 0;
        for (const d of done.reverse()) failed += await rollback(d.plan.runner, d.applied);
        const also = done.length
          ? `; rolled back ${done.map((d) => d.plan.machine).join(", ")}${failed ? ` (${failed} undo commands failed)` : ""}`
          : "";
        // Keeps the tool's stderr: --verbose shows it under the one-line message.
        const detail = err instanceof AppError ? err.detail : undefined;
        throw new AppError("APPLY", `${errorMessage(err)}${also}`, detail);
      }
    }
    return { result: plans };
  });
}

import { AppError, errorMessage } from "../../lib/errors.js";
import type { Runner } from "../../lib/exec/runner.js";
import { applySteps, rollback } from "./apply.js";
import { BIRD_TOOLS, type BirdPlan, planBird } from "./bird-apply.js";
import { birdPaths } from "./bird-config.js";
import type { RouterSpec } from "./cluster.js";
import {
  type FabricContext,
  findHost,
  findRouter,
  hostBird,
  hostDesired,
  routerBird,
  routerDesired,
} from "./fabric.js";
import { hostSysctlKeys, planHost } from "./host-plan.js";
import {
  type HostProtectionDesired,
  hostProtectionItems,
  hostProtectionSteps,
  readHostProtection,
} from "./host-protection.js";
import type { MachineState } from "./machine-state.js";
import type { StoreData } from "./model.js";
import type { Item, Plan, Step } from "./plan-items.js";
import { planPortLinks, readPortLinks } from "./port-links.js";
import {
  portSecurityItems,
  portSecuritySteps,
  readPortSecurityTable,
  securityDesired,
} from "./port-security.js";
import { preflight } from "./preflight.js";
import { readState } from "./read-state.js";
import {
  readRouterFirewall,
  routerFirewallDesired,
  routerFirewallItems,
  routerFirewallSteps,
} from "./router-firewall.js";
import { planRouter, routerSysctlKeys } from "./router-plan.js";
import { sgItems, sgSteps } from "./sg-apply.js";
import { readSgTable } from "./sg-nft.js";
import { planTunnels, readWgDumps, routerTunnels, type Tunnel, WG_TOOLS } from "./tunnel-plan.js";
import { routerKey } from "./wireguard-keys.js";

export const HOST_TOOLS = ["ip", "sysctl", "arping", "nft", "bridge"];
export const ROUTER_TOOLS = ["ip", "sysctl", "nft"];

/** A machine with its desired-vs-current comparison, computed before anything is changed. */
export interface MachinePlan extends Plan {
  machine: string;
  runner: Runner;
  /** --dry-run with routing: bgp: what writing BIRD's config would change. */
  diff: string;
}

/** BIRD comes last on a machine: its kernel tables and addresses are in place by then. */
function withBird(
  machine: string,
  runner: Runner,
  items: Item[],
  steps: Step[],
  bird?: BirdPlan,
): MachinePlan {
  return {
    machine,
    runner,
    items: [...items, ...(bird?.items ?? [])],
    steps: [...steps, ...(bird?.steps ?? [])],
    diff: bird?.diff ?? "",
  };
}

/** Route protocol of what BIRD installs in the kernel ("bird" in iproute2's rt_protos). */
const RTPROT_BIRD = 12;

async function planForHost(
  ctx: FabricContext,
  data: StoreData,
  name: string,
): Promise<MachinePlan> {
  const host = findHost(ctx.cluster, name);
  const runner = ctx.runnerFor(host.target);
  const bgp = ctx.cluster.routing === "bgp";
  await preflight(runner, host.name, bgp ? [...HOST_TOOLS, ...BIRD_TOOLS] : HOST_TOOLS);
  const d = hostDesired(ctx.cluster, data, host);
  const sec = securityDesired(d.networks, d.ports);
  const guard: HostProtectionDesired = {
    networks: d.networks,
    exceptions: ctx.cluster.hostAllow,
    tokenHopLimit: ctx.cluster.tokenHopLimit,
  };
  const [cur, table, links, guardTable, sg] = await Promise.all([
    readState(runner, { sysctls: hostSysctlKeys(d), firewall: false }),
    readPortSecurityTable(runner),
    readPortLinks(runner),
    readHostProtection(runner, guard),
    readSgTable(runner, data),
  ]);
  // A host's BIRD exports nothing to its kernel, so a recovery start (-R) costs nothing there
  // and lets the router keep this host's routes while its BIRD restarts.
  const bird = bgp
    ? await planBird(runner, birdPaths(host.stateDir), hostBird(ctx.cluster, data, host), {
        recover: true,
        dryRun: ctx.showDiff !== undefined,
      })
    : undefined;
  const plan = planHost(d, cur);
  const sgPlan = sgSteps(ctx.cluster, data, host.name, sg);
  // Port security, security groups and host protection after the fabric: bridges exist by
  // then, and a failure rolls the rest back. Both port tables before the ports' links.
  return withBird(
    host.name,
    runner,
    [
      ...plan.items,
      ...portSecurityItems(sec, table, d.ports),
      ...sgItems(sgPlan),
      ...hostProtectionItems(guard, guardTable),
    ],
    [
      ...plan.steps,
      ...portSecuritySteps(sec, table),
      ...sgPlan,
      ...planPortLinks(sec.ports, links),
      ...hostProtectionSteps(guard, guardTable),
    ],
    bird,
  );
}

async function planForRouter(
  ctx: FabricContext,
  data: StoreData,
  r: RouterSpec,
): Promise<MachinePlan> {
  const runner = ctx.runnerFor(r.target);
  const bgp = ctx.cluster.routing === "bgp";
  await preflight(runner, r.name, bgp ? [...ROUTER_TOOLS, ...BIRD_TOOLS] : ROUTER_TOOLS);
  const d = routerDesired(ctx.cluster, data, r);
  const fw = routerFirewallDesired(
    r,
    ctx.cluster.hosts.map((h) => h.address),
    data,
  );
  const [cur, fwTable]: [MachineState, Awaited<ReturnType<typeof readRouterFirewall>>] =
    await Promise.all([
      readState(runner, { sysctls: routerSysctlKeys(d), firewall: true }),
      readRouterFirewall(runner, fw),
    ]);
  const tunnels = bgp ? routerTunnels(ctx.cluster, r) : [];
  // Without tunnels (one site, or static): only the removal of ones vmctl made before.
  const tunnel =
    tunnels.length > 0
      ? await planRouterTunnels(ctx, r, runner, tunnels, cur)
      : planTunnels([], cur, {
          kind: ctx.cluster.wireguard,
          dir: r.stateDir,
          key: undefined,
          peerKeys: {},
          dumps: {},
        });
  // Recover (-R) only when a previous BIRD left routes in the kernel: on a cold start BIRD
  // would otherwise wait for every host before installing anything.
  const bird = bgp
    ? await planBird(runner, birdPaths(r.stateDir), routerBird(ctx.cluster, data, r, tunnels), {
        recover: cur.routes.some((x) => x.proto === RTPROT_BIRD),
        dryRun: ctx.showDiff !== undefined,
      })
    : undefined;
  const plan = planRouter(d, cur);
  // The nft table first: during the migration from iptables NAT never lapses.
  return withBird(
    r.name,
    runner,
    [...plan.items, ...routerFirewallItems(fw, fwTable), ...(tunnel?.items ?? [])],
    [...routerFirewallSteps(fw, fwTable), ...plan.steps, ...(tunnel?.steps ?? [])],
    bird,
  );
}

/** The router's tunnels to other sites; keys are made (locally, 0600) unless --dry-run. */
async function planRouterTunnels(
  ctx: FabricContext,
  r: RouterSpec,
  runner: Runner,
  tunnels: Tunnel[],
  cur: MachineState,
) {
  const kind = ctx.cluster.wireguard;
  await preflight(runner, r.name, kind === "kernel" ? WG_TOOLS : [...WG_TOOLS, "wireguard-go"]);
  const create = ctx.showDiff === undefined;
  const peerKeys: Record<string, string | undefined> = {};
  for (const t of tunnels)
    peerKeys[t.peer.name] = routerKey(ctx.store.dir, t.peer.name, create)?.publicKey;
  return planTunnels(tunnels, cur, {
    kind,
    dir: r.stateDir,
    key: routerKey(ctx.store.dir, r.name, create),
    peerKeys,
    dumps: await readWgDumps(runner, tunnels),
  });
}

/**
 * Which machines to converge: hosts by name; `router: true` = every router of the cluster
 * file, or `routers` by name.
 */
export interface Which {
  hosts: string[];
  router: boolean;
  routers?: string[];
}

/** Plans every named machine from one store snapshot. */
export async function planMachines(
  ctx: FabricContext,
  data: StoreData,
  which: Which,
): Promise<MachinePlan[]> {
  const plans: MachinePlan[] = [];
  for (const name of which.hosts) plans.push(await planForHost(ctx, data, name));
  const routers = which.router
    ? ctx.cluster.routers
    : (which.routers ?? []).map((n) => findRouter(ctx.cluster, n));
  for (const r of routers) plans.push(await planForRouter(ctx, data, r));
  return plans;
}

/**
 * Converges machines to the store. Everything is checked and planned first (reachability,
 * tools, conflicts); if applying then fails on one machine, that machine and the ones already
 * done are rolled back, so a failure leaves nothing half-applied where undo is possible.
 */
export async function converge(ctx: FabricContext, which: Which): Promise<MachinePlan[]> {
  // The lock keeps ports from changing between reading the store and applying it.
  return ctx.store.update(async (data) => {
    const plans = await planMachines(ctx, data, which);
    const done: { plan: MachinePlan; applied: Step[] }[] = [];
    for (const plan of plans) {
      if (plan.diff) ctx.showDiff?.(plan.diff);
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

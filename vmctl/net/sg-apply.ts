import { applySteps } from "./apply.js";
import type { Cluster } from "./cluster.js";
import type { FabricContext } from "./fabric.js";
import type { StoreData } from "./model.js";
import type { TableState } from "./nft-table.js";
import type { Item, Step } from "./plan-items.js";
import { nftApply } from "./port-security.js";
import { planSgNft, readSgTable, sgDesired } from "./sg-nft.js";
import { SG_TABLE } from "./sg-rules.js";

/** The fabric's own machines: they reach every VM whatever its groups say. */
export function fabricMachines(cluster: Cluster): string[] {
  return [...cluster.hosts.map((h) => h.address), ...cluster.routers.map((r) => r.address)];
}

/** The plan's nft step for one host's security group table, or none. */
export function sgSteps(
  cluster: Cluster,
  data: StoreData,
  host: string,
  cur: TableState | undefined,
): Step[] {
  const input = planSgNft(sgDesired(data, host, fabricMachines(cluster)), cur);
  return input ? [{ command: nftApply(input) }] : [];
}

/**
 * What `net show` and `doctor` list for the table: in place when the plan is empty (its rules
 * and sets as the store wants them; rule by rule: `vmctl sg show`).
 */
export function sgItems(steps: Step[]): Item[] {
  const [first] = steps;
  return [
    {
      network: undefined,
      what: `nft table bridge ${SG_TABLE} (security groups: rules and members)`,
      present: first === undefined,
      command: first?.command ?? nftApply(""),
    },
  ];
}

/**
 * Brings every host's security group table to `data`: read each host's table, plan, apply
 * one `nft -f` transaction per host. A membership or IP group change is element updates only.
 * Every host is read and planned before any is changed, so an unreachable host or a failed
 * read changes nothing anywhere. If a host fails, the hosts that were changed are brought back
 * to `previous` (the store as it was), best effort, and the error is thrown.
 */
export async function applySecurityGroups(
  ctx: FabricContext,
  data: StoreData,
  previous?: StoreData,
): Promise<void> {
  const plans = await Promise.all(
    ctx.cluster.hosts.map(async (h) => {
      const runner = ctx.runnerFor(h.target);
      const steps = sgSteps(ctx.cluster, data, h.name, await readSgTable(runner, data));
      return { host: h.name, runner, steps };
    }),
  );
  // The hosts are independent: their transactions run side by side.
  const results = await Promise.allSettled(
    plans.map((p) =>
      applySteps(p.runner, p.host, p.steps, (line) => ctx.onCommand(`${p.host}: ${line}`)),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (!failed) return;
  if (previous)
    await Promise.all(
      plans
        .filter((_, i) => results[i]?.status === "fulfilled" && plans[i]?.steps.length)
        .map(async (d) => {
          const cur = await readSgTable(d.runner, previous).catch(() => undefined);
          const back = sgSteps(ctx.cluster, previous, d.host, cur);
          await applySteps(d.runner, d.host, back).catch(() => {});
        }),
    );
  throw failed.reason;
}

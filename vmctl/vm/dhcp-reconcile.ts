import { dirname } from "node:path";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { HostSpec } from "../net/cluster.js";
import type { FabricContext } from "../net/fabric.js";
import type { Network, StoreData } from "../net/model.js";
import { type DhcpPlan, dhcpPaths, type Reservation } from "./dhcp.js";
import { applyDhcp, withDhcpLock } from "./dhcp-server.js";
import { listVms, type Vm } from "./vms.js";

/**
 * The reservations a network should have on a host: one per VM that exists there (a libvirt
 * domain with our metadata) on that network, whose port vmctl's store records on that host.
 */
export function wantedReservations(
  vms: Vm[],
  data: StoreData,
  host: HostSpec,
  net: Network,
): Reservation[] {
  return vms.flatMap(({ instance: inst }) => {
    const mac = inst.macs[0];
    const ip = inst.addresses[0];
    if (inst.network !== net.name || !mac || !ip) return [];
    const port = data.ports.some(
      (p) => p.network === net.name && p.ip === ip && p.host === host.name,
    );
    return port ? [{ mac: mac.toLowerCase(), ip, name: inst.name }] : [];
  });
}

export interface DhcpFinding {
  network: string;
  plan: DhcpPlan;
}

/**
 * After a crash (a create rolled back half-way, a domain undefined behind vmctl's back, a host
 * rebooted): every network with DHCP files on the host gets the reservations of the VMs that
 * exist, loses leases nothing backs, and has its server running if it has reservations. The
 * domains are listed under the network's DHCP lock, which create holds while it defines the
 * domain and writes its reservation: a VM being created is seen with both or neither.
 */
export async function reconcileDhcp(
  fabric: FabricContext,
  virsh: Runner,
  host: HostSpec,
): Promise<DhcpFinding[]> {
  const data = fabric.store.read();
  const first = data.networks[0];
  if (!first) return [];
  const run = fabric.runnerFor(host.target);
  const ls = await run.probe(cmd("ls", ["-1", "--", dirname(dhcpPaths(host, first).hosts)]));
  if (ls.exitCode !== 0) return [];
  const files = new Set(ls.stdout.split("\n"));
  const nets = data.networks.filter((n) =>
    [".hosts", ".leases"].some((ext) => files.has(`${n.name}${ext}`)),
  );
  const findings: DhcpFinding[] = [];
  for (const net of nets) {
    const plan = await withDhcpLock(run, host, net, async () => {
      const vms = await listVms({ ...fabric.cluster, hosts: [host] }, virsh);
      const want = wantedReservations(vms, fabric.store.read(), host, net);
      return applyDhcp(run, host, net, () => want, true);
    });
    findings.push({ network: net.name, plan });
  }
  return findings;
}

/** One line per change, for `vmctl host apply` (and its --dry-run). */
export function describeFindings(host: string, findings: DhcpFinding[], dryRun: boolean): string[] {
  const done = (what: string) => (dryRun ? `would be ${what}` : what);
  return findings.flatMap(({ network, plan }) => {
    const at = `${host}: ${network}:`;
    return [
      ...plan.removed.map(
        (r) => `${at} reservation ${r.name} ${r.mac} ${r.ip} ${done("removed")} (no such VM here)`,
      ),
      ...plan.added.map((r) => `${at} reservation ${r.name} ${r.mac} ${r.ip} ${done("added")}`),
      ...plan.stale.map((l) => `${at} lease ${l.ip} of ${l.mac} ${done("dropped")} (stale)`),
      ...(plan.server === "start" ? [`${at} DHCP server ${done("started")}`] : []),
      ...(plan.server === "stop" ? [`${at} DHCP server ${done("stopped")} (no VMs)`] : []),
    ];
  });
}

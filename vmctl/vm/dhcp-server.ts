import { dirname } from "node:path";
import { cmd } from "../../lib/exec/command.js";
import { DryRunRunner, type Runner } from "../../lib/exec/runner.js";
import type { HostSpec } from "../net/cluster.js";
import type { Network } from "../net/model.js";
import {
  type DhcpPlan,
  dhcpPaths,
  dnsmasqConf,
  hostsFile,
  type Lease,
  parseHostsFile,
  parseLeases,
  planDhcp,
  pruneLeases,
  type Reservation,
  type ReservationChange,
  withChange,
} from "./dhcp.js";
import { isRunning, livePid, readHostFile, writeHostFile } from "./host-files.js";

/**
 * Runs `fn` holding the network's DHCP lock on the host: flock(1) on a file in the dhcp
 * directory, through the host's Runner, so vmctl processes on any machine take turns at the
 * read-modify-write of the hosts and lease files and at stopping and starting the server. The
 * kernel drops the lock if this vmctl dies (flock's stdin closes).
 */
export async function withDhcpLock<T>(
  run: Runner,
  host: HostSpec,
  net: Network,
  fn: () => Promise<T>,
): Promise<T> {
  const { lock } = dhcpPaths(host, net);
  await run.run(cmd("mkdir", ["-p", "--", dirname(lock)], true));
  const held = await run.hold(cmd("flock", ["-w", "60", "--", lock, "cat"], true));
  try {
    return await fn();
  } finally {
    await held.release();
  }
}

/** The leases the network's dnsmasq on the host holds (what it has written to its file). */
export async function readLeases(run: Runner, host: HostSpec, net: Network): Promise<Lease[]> {
  return parseLeases((await readHostFile(run, dhcpPaths(host, net).leases)) ?? "");
}

/** Adds or removes one reservation, under the lock (removing also drops the MAC's lease). */
export function setReservation(
  run: Runner,
  host: HostSpec,
  net: Network,
  change: ReservationChange,
): Promise<DhcpPlan> {
  return withDhcpLock(run, host, net, () => changeReservation(run, host, net, change));
}

/** setReservation for a caller that already holds the lock. */
export function changeReservation(
  run: Runner,
  host: HostSpec,
  net: Network,
  change: ReservationChange,
): Promise<DhcpPlan> {
  return applyDhcp(run, host, net, (cur) => withChange(cur, change), change.add !== undefined);
}

/**
 * Brings one network's DHCP on a host to `want(current reservations)`; the caller holds the
 * lock. The lease file is edited only while no dnsmasq runs (it keeps the file open and
 * rewrites it from memory: docs/libvirt.md).
 */
export async function applyDhcp(
  run: Runner,
  host: HostSpec,
  net: Network,
  want: (current: Reservation[]) => Reservation[],
  mayStart: boolean,
): Promise<DhcpPlan> {
  const p = dhcpPaths(host, net);
  const conf = dnsmasqConf(host, net);
  const [hosts, leases, oldConf, pid] = await Promise.all([
    readHostFile(run, p.hosts),
    readHostFile(run, p.leases),
    readHostFile(run, p.conf),
    livePid(run, p.pid, "dnsmasq"),
  ]);
  const reservations = parseHostsFile(hosts ?? "");
  const cur = {
    reservations,
    leases: leases ?? "",
    running: pid !== undefined,
    confChanged: oldConf !== conf,
  };
  const plan = planDhcp(cur, want(reservations), mayStart);
  const { server } = plan;
  if (plan.added.length + plan.removed.length > 0)
    await writeHostFile(run, p.hosts, hostsFile(plan.reservations));
  if (server === "reload") await run.run(cmd("kill", ["-HUP", String(pid)], true));
  const systemd = server === "none" || server === "reload" ? false : await hasSystemd(run);
  if ((server === "stop" || server === "restart") && pid !== undefined)
    await stopServer(run, net, pid, systemd, server === "stop");
  if (plan.stale.length > 0) {
    // Read again: the server may have written a lease between the first read and its stop.
    const fresh = pruneLeases((await readHostFile(run, p.leases)) ?? "", plan.reservations);
    await writeHostFile(run, p.leases, fresh.text);
  }
  if (server === "start" || server === "restart") {
    if (cur.confChanged) await writeHostFile(run, p.conf, conf);
    if (systemd) await run.run(cmd("systemctl", ["enable", "--now", unitFor(net)], true));
    // Daemonises: it outlives this vmctl process.
    else await run.run(cmd("dnsmasq", [`--conf-file=${p.conf}`], true));
  }
  return plan;
}

async function stopServer(
  run: Runner,
  net: Network,
  pid: number,
  systemd: boolean,
  disable: boolean,
): Promise<void> {
  if (systemd) {
    const verb = disable ? ["disable", "--now"] : ["stop"];
    await run.run(cmd("systemctl", [...verb, unitFor(net)], true));
    return;
  }
  await run.run(cmd("kill", [String(pid)], true));
  // A dry run printed the kill instead: nothing to wait for.
  if (run instanceof DryRunRunner) return;
  // Its lease file may be edited only once it has exited (a zombie has closed its files).
  const deadline = Date.now() + 10_000;
  while (await isRunning(run, pid, "dnsmasq")) {
    if (Date.now() > deadline) throw new Error(`dnsmasq (pid ${pid}) did not exit in 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function unitFor(net: Network): string {
  return `vmctl-dhcp@${net.name}.service`;
}

/** On systemd hosts the vmctl-dhcp@NET unit runs dnsmasq (and restarts it at boot). */
async function hasSystemd(run: Runner): Promise<boolean> {
  return (await run.probe(cmd("test", ["-d", "/run/systemd/system"]))).exitCode === 0;
}

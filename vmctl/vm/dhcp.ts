import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { HostSpec } from "../net/cluster.js";
import { formatIpv4, mask, parseCidr } from "../net/ipv4.js";
import type { Network } from "../net/model.js";
import { livePid, readHostFile, writeHostFile } from "./host-files.js";

export interface Reservation {
  mac: string;
  ip: string;
  name: string;
}

/**
 * One DHCP server per network on each host: dnsmasq with static reservations only (an unknown
 * MAC gets nothing), DNS off, on that network's bridge. It runs on its own (daemon, or the
 * vmctl-dhcp@NET systemd unit), so VMs keep getting leases after vmctl exits.
 */
export function dhcpPaths(host: HostSpec, net: Network) {
  const base = `${host.stateDir}/dhcp/${net.name}`;
  return {
    conf: `${base}.conf`,
    hosts: `${base}.hosts`,
    leases: `${base}.leases`,
    pid: `${base}.pid`,
    log: `${base}.log`,
  };
}

export function dnsmasqConf(host: HostSpec, net: Network): string {
  const p = dhcpPaths(host, net);
  const subnet = parseCidr(net.subnet);
  if (!subnet) throw new Error(`bad subnet ${net.subnet}`);
  return [
    "# Written by vmctl: DHCP for one network's VMs on this host. Reservations only.",
    `interface=${net.bridge}`,
    "bind-interfaces",
    "except-interface=lo",
    "port=0",
    `dhcp-range=${formatIpv4(subnet.network)},static,${formatIpv4(mask(subnet.prefix))},12h`,
    // The gateway lives on the router; the bridge's proxy ARP answers for it.
    `dhcp-option=option:router,${net.gateway}`,
    `dhcp-hostsfile=${p.hosts}`,
    `dhcp-leasefile=${p.leases}`,
    `pid-file=${p.pid}`,
    `log-facility=${p.log}`,
    "dhcp-authoritative",
    // Leases by MAC only: with client-ids honoured, a VM could release or decline a neighbour's
    // lease by copying its client-id while sending its own MAC as chaddr (the one field port
    // security can check).
    "dhcp-ignore-clid",
    "user=root",
    "group=root",
    "",
  ].join("\n");
}

export function hostsFile(reservations: Reservation[]): string {
  return reservations.map((r) => `${r.mac},${r.ip},${r.name}\n`).join("");
}

export function parseHostsFile(text: string): Reservation[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(","))
    .filter((f) => f.length === 3)
    .map(([mac, ip, name]) => ({ mac: mac as string, ip: ip as string, name: name as string }));
}

export interface Lease {
  mac: string;
  ip: string;
  hostname: string;
}

/** dnsmasq's lease file: `expiry mac ip hostname client-id` per line. */
export function parseLeases(text: string): Lease[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => ({
      mac: (f[1] as string).toLowerCase(),
      ip: f[2] as string,
      hostname: f[3] as string,
    }));
}

/** Adds or removes a reservation and makes the running dnsmasq (started if needed) re-read it. */
export async function setReservation(
  runner: Runner,
  host: HostSpec,
  net: Network,
  change: { add?: Reservation; removeMac?: string },
): Promise<void> {
  const p = dhcpPaths(host, net);
  const current = parseHostsFile((await readHostFile(runner, p.hosts)) ?? "");
  const drop = new Set([change.removeMac, change.add?.mac, change.add?.ip].filter(Boolean));
  const next = current.filter((r) => !drop.has(r.mac) && !drop.has(r.ip));
  if (change.add) next.push(change.add);
  await writeHostFile(runner, p.hosts, hostsFile(next));
  // Removing never starts a server: a rollback must not fail on the step it is undoing.
  await ensureDnsmasq(runner, host, net, change.add !== undefined);
}

async function ensureDnsmasq(
  runner: Runner,
  host: HostSpec,
  net: Network,
  start: boolean,
): Promise<void> {
  const p = dhcpPaths(host, net);
  const conf = dnsmasqConf(host, net);
  const same = (await readHostFile(runner, p.conf)) === conf;
  if (!same) await writeHostFile(runner, p.conf, conf);
  const pid = await livePid(runner, p.pid);
  if (pid !== undefined && same) {
    // SIGHUP: dnsmasq re-reads dhcp-hostsfile.
    await runner.run(cmd("kill", ["-HUP", String(pid)], true));
    return;
  }
  if (!start) return;
  if (pid !== undefined) await runner.run(cmd("kill", [String(pid)], true));
  if (await hasSystemd(runner)) {
    await runner.run(cmd("systemctl", ["enable", "--now", unitFor(net)], true));
    return;
  }
  // Daemonises: it outlives this vmctl process.
  await runner.run(cmd("dnsmasq", [`--conf-file=${p.conf}`], true));
}

function unitFor(net: Network): string {
  return `vmctl-dhcp@${net.name}.service`;
}

/** On systemd hosts the vmctl-dhcp@NET unit runs dnsmasq (and restarts it at boot). */
async function hasSystemd(runner: Runner): Promise<boolean> {
  return (await runner.probe(cmd("test", ["-d", "/run/systemd/system"]))).exitCode === 0;
}

/** Stops the network's dnsmasq on a host when it has no reservations left. */
export async function stopDnsmasqIfIdle(
  runner: Runner,
  host: HostSpec,
  net: Network,
): Promise<void> {
  const p = dhcpPaths(host, net);
  if (parseHostsFile((await readHostFile(runner, p.hosts)) ?? "").length > 0) return;
  if (await hasSystemd(runner)) {
    await runner.probe(cmd("systemctl", ["disable", "--now", unitFor(net)], true));
    return;
  }
  const pid = await livePid(runner, p.pid);
  if (pid !== undefined) await runner.run(cmd("kill", [String(pid)], true));
}

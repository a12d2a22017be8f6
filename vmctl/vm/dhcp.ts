import type { HostSpec } from "../net/cluster.js";
import { formatIpv4, mask, parseCidr } from "../net/ipv4.js";
import type { Network } from "../net/model.js";

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
    /** flock(1) on it serialises every change to this network's files and server on the host. */
    lock: `${base}.lock`,
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

/** dnsmasq's lease file: `expiry mac ip hostname client-id` per line (and a `duid` line). */
export function parseLeases(text: string): Lease[] {
  return text.split("\n").flatMap((l) => {
    const f = l.trim().split(/\s+/);
    if (f.length < 4) return [];
    return [{ mac: (f[1] as string).toLowerCase(), ip: f[2] as string, hostname: f[3] as string }];
  });
}

/** A lease is stale unless a reservation gives that MAC that address. */
function backed(lease: Lease, reservations: Reservation[]): boolean {
  return reservations.some((r) => r.mac.toLowerCase() === lease.mac && r.ip === lease.ip);
}

/** The lease file without the leases no reservation backs (other lines kept as they are). */
export function pruneLeases(
  text: string,
  reservations: Reservation[],
): { text: string; stale: Lease[] } {
  const stale: Lease[] = [];
  const kept = text.split("\n").filter((line) => {
    const lease = parseLeases(line)[0];
    if (!lease || backed(lease, reservations)) return line.trim() !== "";
    stale.push(lease);
    return false;
  });
  return { text: kept.map((l) => `${l}\n`).join(""), stale };
}

export interface ReservationChange {
  add?: Reservation;
  removeMac?: string;
}

/** The reservations after a change: an added one replaces any with its MAC or address. */
export function withChange(current: Reservation[], change: ReservationChange): Reservation[] {
  const drop = new Set(
    [change.removeMac, change.add?.mac, change.add?.ip]
      .filter(Boolean)
      .map((k) => k?.toLowerCase()),
  );
  const next = current.filter((r) => !drop.has(r.mac.toLowerCase()) && !drop.has(r.ip));
  return change.add ? [...next, change.add] : next;
}

/** What is on the host for one network: its reservations, its lease file, its server. */
export interface DhcpState {
  reservations: Reservation[];
  leases: string;
  running: boolean;
  confChanged: boolean;
}

/**
 * reload: SIGHUP (dnsmasq re-reads the hosts file, but keeps every lease it holds in memory);
 * restart: stop, prune the lease file, start; stop: no reservations left.
 */
export type ServerAction = "none" | "reload" | "restart" | "start" | "stop";

export interface DhcpPlan {
  reservations: Reservation[];
  added: Reservation[];
  removed: Reservation[];
  stale: Lease[];
  server: ServerAction;
}

/**
 * Plans one network's DHCP on one host. A lease no reservation backs is dropped, which needs
 * dnsmasq stopped: it keeps its leases in memory and rewrites the file, and a lease it holds
 * for a MAC makes it refuse that address to any other MAC ("not using configured address").
 * `mayStart` false: a removal never starts a server (a rollback must not fail on it).
 */
export function planDhcp(cur: DhcpState, want: Reservation[], mayStart: boolean): DhcpPlan {
  const key = (r: Reservation) => `${r.mac.toLowerCase()},${r.ip},${r.name}`;
  const had = new Set(cur.reservations.map(key));
  const has = new Set(want.map(key));
  const added = want.filter((r) => !had.has(key(r)));
  const removed = cur.reservations.filter((r) => !has.has(key(r)));
  const { stale } = pruneLeases(cur.leases, want);
  const changed = added.length > 0 || removed.length > 0;
  let server: ServerAction = "none";
  if (want.length === 0) server = cur.running ? "stop" : "none";
  else if (!cur.running) server = mayStart ? "start" : "none";
  else if (stale.length > 0 || cur.confChanged) server = "restart";
  else if (changed) server = "reload";
  return { reservations: want, added, removed, stale, server };
}

import type { HostSpec } from "../net/cluster.js";

/** The guest's host key, pinned at first boot (phone_home, checked by ssh-keyscan), on its host. */
export function knownHostsPath(host: HostSpec, name: string): string {
  return `${host.stateDir}/known_hosts/${name}`;
}

export function knownHostsLine(ip: string, hostKey: string): string {
  return `${ip} ${hostKey.split(" ").slice(0, 2).join(" ")}\n`;
}

import { createHash } from "node:crypto";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Cluster, RouterSpec } from "./cluster.js";
import type { MachineState } from "./machine-state.js";
import { type Item, ip, type Step } from "./plan-items.js";
import type { RouterKey } from "./wireguard-keys.js";

/**
 * WireGuard tunnels between the routers of different sites (docs/fabric.md "Sites"): one
 * point-to-point interface per remote router, so BGP's next hop picks the tunnel and each
 * tunnel can allow every address (WireGuard picks a peer by the inner destination; with one
 * peer per interface that is always the right one).
 */

/** ip link alias of vmctl's tunnel interfaces: `router apply` removes the ones no longer wanted. */
export const WG_ALIAS = "vmctl-wg";
export const WG_BASE_PORT = 51820;
const KEEPALIVE = 25;
export const WG_TOOLS = ["wg"];

export interface Tunnel {
  /** The interface on this router. */
  dev: string;
  peer: RouterSpec;
  /** This router's tunnel address and the peer's. */
  local: string;
  remote: string;
  listenPort: number;
  /** address:port of the peer's interface towards this router. */
  endpoint: string;
}

/** `vwg` + 8 hex digits of (this router, peer): unique on the machine and under /var/run/wireguard. */
export function tunnelDev(router: string, peer: string): string {
  return `vwg${createHash("sha256").update(`vmctl-wg:${router}>${peer}`).digest("hex").slice(0, 8)}`;
}

/**
 * A router's tunnels: one to every router of every other site. Ports: the interface towards
 * router number i (its place in the cluster file) listens on 51820 + i, so both ends can work
 * out each other's port.
 */
export function routerTunnels(cluster: Cluster, r: RouterSpec): Tunnel[] {
  const index = (x: RouterSpec) => cluster.routers.indexOf(x);
  return cluster.routers
    .filter((p) => p.site !== r.site)
    .map((p) => ({
      dev: tunnelDev(r.name, p.name),
      peer: p,
      local: r.tunnelAddress ?? "",
      remote: p.tunnelAddress ?? "",
      listenPort: WG_BASE_PORT + index(p),
      endpoint: `${p.endpoint ?? ""}:${WG_BASE_PORT + index(r)}`,
    }));
}

/** `wg show DEV dump`: the interface line, then one line per peer (tab-separated). */
export interface WgDump {
  privateKey: string;
  listenPort: number;
  peers: { publicKey: string; endpoint: string; allowedIps: string; keepalive: string }[];
}

export function parseWgDump(text: string): WgDump | undefined {
  const [head, ...peers] = text
    .trim()
    .split("\n")
    .map((l) => l.split("\t"));
  if (!head || head.length < 3) return undefined;
  return {
    privateKey: head[0] ?? "",
    listenPort: Number(head[2]),
    peers: peers
      .filter((p) => p.length >= 8)
      .map((p) => ({
        publicKey: p[0] ?? "",
        endpoint: p[2] ?? "",
        allowedIps: p[3] ?? "",
        keepalive: p[7] ?? "",
      })),
  };
}

/** The tunnel's WireGuard settings, in `wg setconf` form. */
export function wgConf(t: Tunnel, key: RouterKey, peerKey: string): string {
  return [
    "[Interface]",
    `PrivateKey = ${key.privateKey}`,
    `ListenPort = ${t.listenPort}`,
    "",
    "[Peer]",
    `PublicKey = ${peerKey}`,
    `Endpoint = ${t.endpoint}`,
    "AllowedIPs = 0.0.0.0/0",
    `PersistentKeepalive = ${KEEPALIVE}`,
    "",
  ].join("\n");
}

function inPlace(dump: WgDump | undefined, t: Tunnel, key: RouterKey, peerKey: string): boolean {
  const p = dump?.peers[0];
  return (
    dump !== undefined &&
    dump.privateKey === key.privateKey &&
    dump.listenPort === t.listenPort &&
    dump.peers.length === 1 &&
    p?.publicKey === peerKey &&
    p.endpoint === t.endpoint &&
    p.allowedIps === "0.0.0.0/0" &&
    p.keepalive === String(KEEPALIVE)
  );
}

export interface TunnelInputs {
  kind: Cluster["wireguard"];
  /** Where the router keeps the tunnels' settings files (its state-dir). */
  dir: string;
  /** This router's key, and each peer's public key; undefined = not generated yet (--dry-run). */
  key: RouterKey | undefined;
  peerKeys: Record<string, string | undefined>;
  /** `wg show DEV dump` of each wanted tunnel, parsed; undefined when it does not exist. */
  dumps: Record<string, WgDump | undefined>;
}

/** Reads what `planTunnels` compares: each wanted interface's WireGuard state. */
export async function readWgDumps(
  runner: Runner,
  tunnels: Tunnel[],
): Promise<Record<string, WgDump | undefined>> {
  const out: Record<string, WgDump | undefined> = {};
  for (const t of tunnels) {
    const r = await runner.probe(cmd("wg", ["show", t.dev, "dump"]));
    out[t.dev] = r.exitCode === 0 ? parseWgDump(r.stdout) : undefined;
  }
  return out;
}

/** Items (for net show) and steps of one router's tunnels; removals of unwanted ones first. */
export function planTunnels(
  tunnels: Tunnel[],
  cur: MachineState,
  inputs: TunnelInputs,
): { items: Item[]; steps: Step[] } {
  const items: Item[] = [];
  const steps: Step[] = cur.links
    .filter((l) => l.alias === WG_ALIAS && !tunnels.some((t) => t.dev === l.name))
    .map((l) => ({ command: ip("link", "del", "dev", l.name) }));
  const add = (item: Item, extra: Step[] = []) => {
    items.push(item);
    if (!item.present)
      steps.push(
        ...extra,
        item.undo ? { command: item.command, undo: item.undo } : { command: item.command },
      );
  };
  for (const t of tunnels) {
    const link = cur.links.find((l) => l.name === t.dev);
    const create: Command =
      inputs.kind === "kernel"
        ? ip("link", "add", "dev", t.dev, "type", "wireguard")
        : cmd("wireguard-go", [t.dev], true);
    add({
      network: undefined,
      what: `tunnel ${t.dev} to ${t.peer.name} (${inputs.kind === "kernel" ? "wireguard" : "wireguard-go"})`,
      present: link !== undefined,
      command: create,
      undo: ip("link", "del", "dev", t.dev),
    });
    const key = inputs.key;
    const peerKey = inputs.peerKeys[t.peer.name];
    const file = `${inputs.dir}/wireguard/${t.dev}.conf`;
    const present =
      key !== undefined && peerKey !== undefined && inPlace(inputs.dumps[t.dev], t, key, peerKey);
    const text = key && peerKey ? wgConf(t, key, peerKey) : "(keys generated on apply)\n";
    add(
      {
        network: undefined,
        what: `tunnel ${t.dev} keys, port ${t.listenPort}, peer ${t.peer.name} at ${t.endpoint}`,
        present,
        command: cmd("wg", ["syncconf", t.dev, file], true),
      },
      [
        { command: cmd("mkdir", ["-p", "-m", "700", "--", `${inputs.dir}/wireguard`], true) },
        // Made empty with mode 0600 first: the private key is never in a readable file.
        { command: cmd("install", ["-m", "600", "/dev/null", `${file}.tmp`], true) },
        { command: cmd("dd", ["status=none", `of=${file}.tmp`], true, text) },
        { command: cmd("mv", ["-f", "--", `${file}.tmp`, file], true) },
      ],
    );
    add({
      network: undefined,
      what: `tunnel ${t.dev} address ${t.local} peer ${t.remote}`,
      present: cur.addrs.some((a) => a.dev === t.dev && a.cidr === `${t.local}/32`),
      command: ip("addr", "replace", t.local, "peer", `${t.remote}/32`, "dev", t.dev),
    });
    add({
      network: undefined,
      what: `tunnel ${t.dev} up`,
      present: link?.up === true && link.alias === WG_ALIAS,
      command: ip("link", "set", "dev", t.dev, "alias", WG_ALIAS, "up"),
    });
  }
  return { items, steps };
}

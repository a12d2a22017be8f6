import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { applySteps } from "./apply.js";
import type { Network, Port } from "./model.js";
import * as nft from "./nft-table.js";
import { type Item, ip, type Step } from "./plan-items.js";
import {
  PORTSEC_SPEC,
  portElements,
  type SecuredPort,
  type SetName,
  tableDefinition,
} from "./port-security-rules.js";

/**
 * What one host's port security should hold: the ports plugged into its vmctl bridges. The
 * table exists while the host has any vmctl bridge, so attaching a port only adds elements.
 */
export interface PortSecurityDesired {
  bridges: string[];
  ports: SecuredPort[];
}

/** The table as `nft -j list table bridge vmctl_portsec` shows it; undefined when absent. */
export interface TableState extends nft.TableState {
  elements: Record<SetName, string[]>;
}

/**
 * A host's desired port security from the store: every vmctl bridge, every port on the host.
 * A port recorded without a MAC (a store from before port security) gets no elements, so its
 * bridge drops everything it sends until it is attached again with --mac.
 */
export function securityDesired(
  networks: Network[],
  ports: Port[],
): PortSecurityDesired & { ports: (SecuredPort & { bridge: string })[] } {
  const bridgeOf = new Map(networks.map((n) => [n.name, n.bridge]));
  return {
    bridges: networks.map((n) => n.bridge),
    ports: ports.flatMap((p) => {
      const bridge = bridgeOf.get(p.network);
      return p.mac && bridge ? [{ dev: p.dev, mac: p.mac, ip: p.ip, bridge }] : [];
    }),
  };
}

export function parseTable(text: string): TableState {
  return nft.parseTable(text, PORTSEC_SPEC) as TableState;
}

function wantedElements(d: PortSecurityDesired): Record<SetName, string[]> {
  const per = d.ports.map(portElements);
  return {
    ports: per.map((e) => e.ports),
    port_mac: per.map((e) => e.port_mac),
    port_ip: per.map((e) => e.port_ip),
    port_arp: per.map((e) => e.port_arp),
    port_chaddr: per.map((e) => e.port_chaddr),
  };
}

function elementLine(verb: "add" | "delete", set: string, elems: string[]): string {
  return nft.elementLine(PORTSEC_SPEC, verb, set, elems);
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs (only the
 * elements that differ, or the whole table replaced: nft-table.ts). No bridges: the table goes.
 */
export function planPortSecurityNft(
  d: PortSecurityDesired,
  cur: TableState | undefined,
): string | undefined {
  return nft.planTableNft(PORTSEC_SPEC, d.bridges.length ? wantedElements(d) : undefined, cur);
}

export const nftApply = nft.nftApply;

/** Reads the table; undefined when it does not exist. */
export async function readPortSecurityTable(runner: Runner): Promise<TableState | undefined> {
  return (await nft.readTable(runner, PORTSEC_SPEC)) as TableState | undefined;
}

/** What `net show` lists: the table, and each port's elements, in place or not. */
export function portSecurityItems(
  d: PortSecurityDesired,
  cur: TableState | undefined,
  ports: Port[],
): Item[] {
  if (d.bridges.length === 0) return [];
  const intact = nft.sameStructure(PORTSEC_SPEC, cur);
  const table: Item = {
    network: undefined,
    what: `nft table bridge ${PORTSEC_SPEC.name} (port security rules)`,
    present: intact,
    command: nftApply(tableDefinition()),
  };
  return [
    table,
    ...d.ports.map((p): Item => {
      const e = portElements(p);
      const names = Object.keys(e) as (keyof typeof e)[];
      return {
        network: ports.find((x) => x.dev === p.dev)?.network,
        what: `port security ${p.dev}: only ${p.mac} and ${p.ip}`,
        present: intact && names.every((n) => cur?.elements[n]?.includes(e[n]) === true),
        command: nftApply(names.map((n) => elementLine("add", n, [e[n]])).join("\n")),
      };
    }),
  ];
}

/** The plan's nft step, or none. */
export function portSecuritySteps(d: PortSecurityDesired, cur: TableState | undefined): Step[] {
  const input = planPortSecurityNft(d, cur);
  return input ? [{ command: nftApply(input) }] : [];
}

/**
 * The one entry point the plug paths call (port attach/detach, hence create, start, delete):
 * read this host's table, plan against `d`, apply in one transaction.
 */
export async function securePorts(
  runner: Runner,
  machine: string,
  d: PortSecurityDesired,
  onCommand: (line: string) => void,
): Promise<void> {
  const steps = portSecuritySteps(d, await readPortSecurityTable(runner));
  await applySteps(runner, machine, steps, onCommand);
}

/**
 * A port's bridge settings: no learning (its MAC is a static FDB entry, so no frame can move
 * it), no unknown-unicast flooding (it receives only frames for its own MAC, broadcasts and
 * multicast). Only valid once the interface is a port of the bridge.
 */
export function portLinkSteps(p: SecuredPort): Step[] {
  return [
    {
      command: ip(
        "link",
        "set",
        "dev",
        p.dev,
        "type",
        "bridge_slave",
        "learning",
        "off",
        "flood",
        "off",
      ),
    },
    {
      command: cmd(
        "bridge",
        ["fdb", "replace", p.mac.toLowerCase(), "dev", p.dev, "master", "static"],
        true,
      ),
    },
  ];
}

import { AppError } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { applySteps } from "./apply.js";
import type { Network, Port } from "./model.js";
import { type Item, ip, type Step } from "./plan-items.js";
import {
  PORTSEC_TABLE,
  portElements,
  SETS,
  type SecuredPort,
  type SetName,
  tableDefinition,
  wantedStructure,
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
export interface TableState {
  structure: string[];
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

type Json = Record<string, unknown>;

/** Renders one listed element as nft input writes it (see portElements). */
function renderElement(v: unknown): string {
  const val = typeof v === "object" ? ((v as { elem?: { val?: unknown } }).elem?.val ?? v) : v;
  const parts = typeof val === "object" ? ((val as { concat?: unknown[] }).concat ?? []) : [val];
  return parts
    .map((p, i) => {
      if (typeof p === "number") return `0x${p.toString(16).padStart(12, "0")}`;
      return i === 0 ? `"${String(p)}"` : String(p).toLowerCase();
    })
    .join(" . ");
}

/** Parses the JSON listing: structure in the form wantedStructure() gives, elements rendered. */
export function parseTable(text: string): TableState {
  const items = ((JSON.parse(text) as { nftables?: Json[] }).nftables ?? []).filter(
    (x) => x.metainfo === undefined,
  );
  const elements = Object.fromEntries(Object.keys(SETS).map((k) => [k, []])) as unknown as Record<
    SetName,
    string[]
  >;
  const structure: string[] = [];
  for (const item of items) {
    const set = item.set as Json | undefined;
    const chain = item.chain as Json | undefined;
    const rule = item.rule as Json | undefined;
    const counter = item.counter as Json | undefined;
    if (set) {
      const types = Array.isArray(set.type) ? set.type : [set.type];
      structure.push(`set ${String(set.name)} ${types.join(",")}`);
      const name = String(set.name) as SetName;
      if (name in SETS && Array.isArray(set.elem)) elements[name] = set.elem.map(renderElement);
    } else if (counter) structure.push(`counter ${String(counter.name)}`);
    else if (chain) {
      const hook = chain.hook
        ? ` ${String(chain.hook)} ${String(chain.prio)} ${String(chain.policy)}`
        : "";
      structure.push(`chain ${String(chain.name)}${hook}`);
    } else if (rule) structure.push(`rule ${String(rule.chain)} ${String(rule.comment ?? "-")}`);
    else if (!item.table) structure.push(`other ${Object.keys(item).join(",")}`);
  }
  return { structure: structure.sort(), elements };
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
  return `${verb} element bridge ${PORTSEC_TABLE} ${set} { ${elems.join(", ")} }`;
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs. The same
 * structure: only the elements that differ. A different or damaged structure (a rule deleted,
 * a set changed, an older vmctl's rules): the table is replaced, elements included, in the same
 * transaction, so no packet ever sees a half-built table. No bridges: the table goes.
 */
export function planPortSecurityNft(
  d: PortSecurityDesired,
  cur: TableState | undefined,
): string | undefined {
  const drop = `delete table bridge ${PORTSEC_TABLE}`;
  if (d.bridges.length === 0) return cur ? `${drop}\n` : undefined;
  const want = wantedElements(d);
  const same = cur && cur.structure.join("\n") === wantedStructure().join("\n");
  const lines: string[] = [];
  if (!same) {
    // `table X` first makes the delete valid whether or not the table exists.
    lines.push(`table bridge ${PORTSEC_TABLE}`, drop, tableDefinition().trimEnd());
  }
  for (const set of Object.keys(SETS) as SetName[]) {
    const have = same ? new Set(cur.elements[set]) : new Set<string>();
    const wanted = new Set(want[set]);
    const extra = [...have].filter((e) => !wanted.has(e));
    const missing = [...wanted].filter((e) => !have.has(e));
    if (extra.length) lines.push(elementLine("delete", set, extra));
    if (missing.length) lines.push(elementLine("add", set, missing));
  }
  return lines.length ? `${lines.join("\n")}\n` : undefined;
}

export function nftApply(input: string): Command {
  return cmd("nft", ["-f", "-"], true, input);
}

/** Reads the table; undefined when it does not exist. */
export async function readPortSecurityTable(runner: Runner): Promise<TableState | undefined> {
  const r = await runner.probe(cmd("nft", ["-j", "list", "table", "bridge", PORTSEC_TABLE]));
  if (r.exitCode === 0) return parseTable(r.stdout);
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new AppError("NFT", `nft -j list table bridge ${PORTSEC_TABLE} failed: ${r.stderr.trim()}`);
}

/** What `net show` lists: the table, and each port's elements, in place or not. */
export function portSecurityItems(
  d: PortSecurityDesired,
  cur: TableState | undefined,
  ports: Port[],
): Item[] {
  if (d.bridges.length === 0) return [];
  const intact = cur !== undefined && cur.structure.join("\n") === wantedStructure().join("\n");
  const table: Item = {
    network: undefined,
    what: `nft table bridge ${PORTSEC_TABLE} (port security rules)`,
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
        present: intact && names.every((n) => cur.elements[n].includes(e[n])),
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

import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { SecurityGroup, SgRule, StoreData } from "./model.js";
import { cidrElement } from "./nft-table.js";
import { allGroups, portGroups } from "./security-groups.js";
import {
  addrSet,
  groupRule,
  ipgSet,
  portsSet,
  ruleComment,
  SG_COUNTERS,
  SG_TABLE,
  type SgLayout,
  sets,
  sgTableDefinition,
  wantedSgStructure,
} from "./sg-rules.js";

/** What one host's security group table should hold; undefined = no table (no vmctl bridge). */
export interface SgDesired {
  layout: SgLayout;
  /** Set name → elements as nft input writes them (and as the reader renders the listing). */
  elements: Record<string, string[]>;
}

/** The table as `nft -j list table bridge vmctl_sg` shows it. */
export interface SgTableState {
  structure: string[];
  chains: string[];
  sets: { name: string; line: string }[];
  counters: string[];
  /** Objects vmctl never writes (maps, flowtables, a set without vmctl's comment...). */
  foreign: boolean;
  elements: Record<string, string[]>;
  /** Each rule's handle by chain, for tests and `sg show`: element updates must not change them. */
  handles: number[];
}

const q = (dev: string) => `"${dev}"`;

/**
 * A host's desired table from the store: its filtered ports (those with a MAC: port security
 * knows them), every group's members here (`p_G`) and everywhere (`a_G`), every IP group, and
 * the fabric's own machines (`hosts`: the bridge addresses and the hosts' and routers' LAN
 * addresses), which always reach VMs.
 */
export function sgDesired(
  data: StoreData,
  host: string,
  machines: string[] = [],
): SgDesired | undefined {
  if (data.networks.length === 0) return undefined;
  const groups = allGroups(data);
  const layout: SgLayout = { groups, ipGroups: data.ipGroups.map((x) => x.name) };
  const nets = new Set(data.networks.map((n) => n.name));
  const ports = data.ports.filter((p) => p.mac && nets.has(p.network));
  const local = ports.filter((p) => p.host === host);
  const elements: Record<string, string[]> = {
    ports: local.map((p) => q(p.dev)),
    hosts: [...new Set([...data.networks.map((n) => n.bridgeIp), ...machines])],
  };
  for (const g of groups) {
    const members = ports.filter((p) => portGroups(p).includes(g.name));
    elements[portsSet(g.name)] = members.filter((p) => p.host === host).map((p) => q(p.dev));
    elements[addrSet(g.name)] = [...new Set(members.map((p) => p.ip))];
  }
  for (const x of data.ipGroups) elements[ipgSet(x.name)] = x.cidrs.map(cidrElement);
  return { layout, elements };
}

type Json = Record<string, unknown>;

function renderElement(v: unknown): string {
  const val = typeof v === "object" && v !== null ? (((v as Json).elem as Json)?.val ?? v) : v;
  if (typeof val === "object" && val !== null && "prefix" in val) {
    const p = (val as { prefix: { addr: string; len: number } }).prefix;
    return p.len === 32 ? p.addr : `${p.addr}/${p.len}`;
  }
  return String(val);
}

export function parseSgTable(text: string): SgTableState {
  const items = ((JSON.parse(text) as { nftables?: Json[] }).nftables ?? []).filter(
    (x) => x.metainfo === undefined && x.table === undefined,
  );
  const st: SgTableState = {
    structure: [],
    chains: [],
    sets: [],
    counters: [],
    foreign: false,
    elements: {},
    handles: [],
  };
  for (const item of items) {
    const set = item.set as Json | undefined;
    const chain = item.chain as Json | undefined;
    const rule = item.rule as Json | undefined;
    const counter = item.counter as Json | undefined;
    if (set) {
      const name = String(set.name);
      const line = `set ${name} ${String(set.comment ?? "-")}`;
      st.structure.push(line);
      st.sets.push({ name, line });
      if (set.comment === undefined) st.foreign = true;
      // Interface names come back unquoted; writes quote them (names may hold `.` or `-`).
      const ifname = set.type === "ifname";
      st.elements[name] = Array.isArray(set.elem)
        ? set.elem.map((e) => (ifname ? q(renderElement(e)) : renderElement(e)))
        : [];
    } else if (counter) {
      st.structure.push(`counter ${String(counter.name)}`);
      st.counters.push(String(counter.name));
    } else if (chain) {
      const hook = chain.hook
        ? ` ${String(chain.hook)} ${String(chain.prio)} ${String(chain.policy)}`
        : "";
      st.structure.push(`chain ${String(chain.name)}${hook}`);
      st.chains.push(String(chain.name));
    } else if (rule) {
      st.structure.push(`rule ${String(rule.chain)} ${String(rule.comment ?? "-")}`);
      st.handles.push(Number(rule.handle));
    } else {
      st.structure.push(`other ${Object.keys(item).join(",")}`);
      st.foreign = true;
    }
  }
  st.structure.sort();
  return st;
}

function elementLine(verb: "add" | "delete", set: string, elems: string[]): string {
  return `${verb} element bridge ${SG_TABLE} ${set} { ${elems.join(", ")} }`;
}

function elementDiff(set: string, want: string[], have: string[]): string[] {
  const h = new Set(have);
  const w = new Set(want);
  const extra = [...h].filter((e) => !w.has(e));
  const missing = [...w].filter((e) => !h.has(e));
  return [
    ...(extra.length ? [elementLine("delete", set, extra)] : []),
    ...(missing.length ? [elementLine("add", set, missing)] : []),
  ];
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs.
 * Same structure: only the elements that differ (a membership or IP group change). A rule
 * change: every chain is flushed and deleted, the sets no longer wanted are deleted, and the
 * definition is added again — sets whose definition is unchanged keep their elements, and the
 * flow sets keep the flows they track, so connections survive rule changes. Objects vmctl
 * never writes: the whole table is replaced. All in one transaction.
 */
export function planSgNft(
  d: SgDesired | undefined,
  cur: SgTableState | undefined,
): string | undefined {
  const dropTable = `delete table bridge ${SG_TABLE}`;
  if (!d) return cur ? `${dropTable}\n` : undefined;
  const wantedSets = sets(d.layout);
  const wantedLines = new Set(wantedSgStructure(d.layout));
  const same = cur !== undefined && cur.structure.join("\n") === [...wantedLines].join("\n");
  const lines: string[] = [];
  const keep = new Set<string>();
  if (same) for (const s of cur.sets) keep.add(s.name);
  else {
    lines.push(`table bridge ${SG_TABLE}`);
    if (cur?.foreign) lines.push(dropTable);
    else if (cur) {
      for (const c of cur.chains) lines.push(`flush chain bridge ${SG_TABLE} ${c}`);
      for (const c of cur.chains) lines.push(`delete chain bridge ${SG_TABLE} ${c}`);
      for (const s of cur.sets) {
        if (wantedLines.has(s.line)) keep.add(s.name);
        else lines.push(`delete set bridge ${SG_TABLE} ${s.name}`);
      }
      for (const c of cur.counters)
        if (!(SG_COUNTERS as readonly string[]).includes(c))
          lines.push(`delete counter bridge ${SG_TABLE} ${c}`);
    }
    lines.push(sgTableDefinition(d.layout).trimEnd());
  }
  for (const s of wantedSets) {
    if (s.dynamic) continue;
    const have = keep.has(s.name) ? (cur?.elements[s.name] ?? []) : [];
    lines.push(...elementDiff(s.name, d.elements[s.name] ?? [], have));
  }
  return lines.length ? `${lines.join("\n")}\n` : undefined;
}

export async function readSgTable(runner: Runner): Promise<SgTableState | undefined> {
  const r = await runner.probe(cmd("nft", ["-j", "list", "table", "bridge", SG_TABLE]));
  if (r.exitCode === 0) return parseSgTable(r.stdout);
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new AppError("NFT", `nft -j list table bridge ${SG_TABLE} failed: ${r.stderr.trim()}`);
}

/** Whether a group rule's nft rule is in the host's table now. */
export function ruleInPlace(cur: SgTableState | undefined, g: SecurityGroup, r: SgRule): boolean {
  const chain = r.direction === "ingress" ? "ingress" : "egress";
  return cur?.structure.includes(`rule ${chain} ${ruleComment(chain, groupRule(g, r))}`) ?? false;
}

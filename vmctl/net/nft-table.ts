import { createHash } from "node:crypto";
import { AppError } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

/**
 * One nftables table of vmctl's own, planned from `nft -j list table` like the rest of the
 * fabric. Every vmctl table (port security, host protection, the router's) is a TableSpec:
 * its sets, counters and chains. Rules carry a digest of their own text in their comment, which
 * is how the reader recognises them; the plan is element updates when the structure is the
 * same, else the whole table replaced, elements included, in one `nft -f` transaction.
 */
export interface SetSpec {
  typeof: string;
  /** The key types `nft -j list` reports for it, in order. */
  types: readonly string[];
  /** `interval` for sets of prefixes. */
  interval?: boolean;
}

export interface HookSpec {
  type: "filter" | "nat";
  hook: string;
  priority: number;
}

export interface ChainSpec {
  name: string;
  /** Base chains only (policy accept: vmctl's tables only decide what they are about). */
  hook?: HookSpec;
  rules: string[];
}

export interface TableSpec {
  family: "bridge" | "inet" | "ip";
  name: string;
  sets: Readonly<Record<string, SetSpec>>;
  counters: readonly string[];
  chains: ChainSpec[];
}

/** The table as listed; undefined when absent. Elements are rendered as nft input writes them. */
export interface TableState {
  structure: string[];
  /** Digests of the rules present (a rule's comment). */
  rules: Set<string>;
  elements: Record<string, string[]>;
}

/** Each rule carries a digest of its own text: how the reader recognises rules vmctl wrote. */
export function ruleComment(chain: string, rule: string): string {
  return `vmctl:${createHash("sha256").update(`${chain}\n${rule}`).digest("hex").slice(0, 12)}`;
}

/**
 * Sets with their key types, counters, chains with hooks, each rule by its position in its
 * chain and digest (order decides: a moved rule is a different table); sorted.
 */
export function wantedStructure(spec: TableSpec): string[] {
  return [
    ...Object.entries(spec.sets).map(
      ([name, s]) => `set ${name} ${s.types.join(",")}${s.interval ? " interval" : ""}`,
    ),
    ...spec.counters.map((c) => `counter ${c}`),
    ...spec.chains.map(
      (c) => `chain ${c.name}${c.hook ? ` ${c.hook.hook} ${c.hook.priority} accept` : ""}`,
    ),
    ...spec.chains.flatMap((c) =>
      c.rules.map((r, i) => `rule ${c.name} ${i} ${ruleComment(c.name, r)}`),
    ),
  ].sort();
}

/** The whole table, without elements, in `nft -f` syntax. */
export function tableDefinition(spec: TableSpec): string {
  const sets = Object.entries(spec.sets).map(
    ([name, s]) =>
      `\tset ${name} {\n\t\ttypeof ${s.typeof}\n${s.interval ? "\t\tflags interval\n" : ""}\t}`,
  );
  const counters = spec.counters.map((c) => `\tcounter ${c} {\n\t}`);
  const chains = spec.chains.map((c) => {
    const hook = c.hook
      ? [`\t\ttype ${c.hook.type} hook ${c.hook.hook} priority ${c.hook.priority}; policy accept;`]
      : [];
    const body = [...hook, ...c.rules.map((r) => `\t\t${r} comment "${ruleComment(c.name, r)}"`)];
    return `\tchain ${c.name} {\n${body.join("\n")}\n\t}`;
  });
  return `table ${spec.family} ${spec.name} {\n${[...sets, ...counters, ...chains].join("\n")}\n}\n`;
}

type Json = Record<string, unknown>;

/** One part of a listed element, by its key type, as nft input writes it. */
function renderPart(p: unknown, type: string | undefined): string {
  if (typeof p === "number") return `0x${p.toString(16).padStart(12, "0")}`;
  if (typeof p === "object" && p !== null && "prefix" in p) {
    const pre = (p as { prefix: { addr: string; len: number } }).prefix;
    return `${pre.addr}/${pre.len}`;
  }
  return type === "ifname" ? `"${String(p)}"` : String(p).toLowerCase();
}

function renderElement(v: unknown, types: readonly string[]): string {
  const val = typeof v === "object" ? ((v as { elem?: { val?: unknown } }).elem?.val ?? v) : v;
  const concat =
    typeof val === "object" && val !== null && "concat" in val
      ? ((val as { concat: unknown[] }).concat ?? [])
      : [val];
  return concat.map((p, i) => renderPart(p, types[i])).join(" . ");
}

/** Parses the JSON listing into the form wantedStructure() gives, and the elements. */
export function parseTable(text: string, spec: TableSpec): TableState {
  const items = ((JSON.parse(text) as { nftables?: Json[] }).nftables ?? []).filter(
    (x) => x.metainfo === undefined,
  );
  const elements: Record<string, string[]> = Object.fromEntries(
    Object.keys(spec.sets).map((k) => [k, []]),
  );
  const structure: string[] = [];
  const rules = new Set<string>();
  // The listing gives each chain's rules in order.
  const position = new Map<string, number>();
  for (const item of items) {
    const set = item.set as Json | undefined;
    const chain = item.chain as Json | undefined;
    const rule = item.rule as Json | undefined;
    const counter = item.counter as Json | undefined;
    if (set) {
      const types = (Array.isArray(set.type) ? set.type : [set.type]).map(String);
      const flags = Array.isArray(set.flags) ? set.flags : [];
      structure.push(
        `set ${String(set.name)} ${types.join(",")}${flags.includes("interval") ? " interval" : ""}`,
      );
      const name = String(set.name);
      if (name in spec.sets && Array.isArray(set.elem))
        elements[name] = set.elem.map((e) => renderElement(e, types));
    } else if (counter) structure.push(`counter ${String(counter.name)}`);
    else if (chain) {
      const hook = chain.hook
        ? ` ${String(chain.hook)} ${String(chain.prio)} ${String(chain.policy)}`
        : "";
      structure.push(`chain ${String(chain.name)}${hook}`);
    } else if (rule) {
      const chainName = String(rule.chain);
      const i = position.get(chainName) ?? 0;
      position.set(chainName, i + 1);
      structure.push(`rule ${chainName} ${i} ${String(rule.comment ?? "-")}`);
      if (typeof rule.comment === "string") rules.add(rule.comment);
    } else if (!item.table) structure.push(`other ${Object.keys(item).join(",")}`);
  }
  return { structure: structure.sort(), rules, elements };
}

/** A CIDR as an interval set lists it: a /32 as the plain address. */
export function cidrElement(c: string): string {
  return c.endsWith("/32") ? c.slice(0, -3) : c;
}

export function sameStructure(spec: TableSpec, cur: TableState | undefined): cur is TableState {
  return cur !== undefined && cur.structure.join("\n") === wantedStructure(spec).join("\n");
}

export function elementLine(
  spec: TableSpec,
  verb: "add" | "delete",
  set: string,
  elems: string[],
): string {
  return `${verb} element ${spec.family} ${spec.name} ${set} { ${elems.join(", ")} }`;
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs. `want`
 * undefined: the table should not exist. The same structure: only the elements that differ.
 * A different or damaged structure (a rule deleted, a set changed, an older vmctl's rules):
 * the table is replaced, elements included, in the same transaction, so no packet ever sees a
 * half-built table (conntrack entries are not part of a table: established flows survive).
 */
export function planTableNft(
  spec: TableSpec,
  want: Record<string, string[]> | undefined,
  cur: TableState | undefined,
): string | undefined {
  const drop = `delete table ${spec.family} ${spec.name}`;
  if (want === undefined) return cur ? `${drop}\n` : undefined;
  const same = sameStructure(spec, cur);
  const lines: string[] = [];
  // `table X` first makes the delete valid whether or not the table exists.
  if (!same) lines.push(`table ${spec.family} ${spec.name}`, drop, tableDefinition(spec).trimEnd());
  for (const set of Object.keys(spec.sets)) {
    const have = same ? new Set(cur.elements[set]) : new Set<string>();
    const wanted = new Set(want[set] ?? []);
    const extra = [...have].filter((e) => !wanted.has(e));
    const missing = [...wanted].filter((e) => !have.has(e));
    if (extra.length) lines.push(elementLine(spec, "delete", set, extra));
    if (missing.length) lines.push(elementLine(spec, "add", set, missing));
  }
  return lines.length ? `${lines.join("\n")}\n` : undefined;
}

export function nftApply(input: string): Command {
  return cmd("nft", ["-f", "-"], true, input);
}

/** Reads one table; undefined when it does not exist. No other table is read. */
export async function readTable(runner: Runner, spec: TableSpec): Promise<TableState | undefined> {
  const where = `${spec.family} ${spec.name}`;
  const r = await runner.probe(cmd("nft", ["-j", "list", "table", spec.family, spec.name]));
  if (r.exitCode === 0) return parseTable(r.stdout, spec);
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new AppError("NFT", `nft -j list table ${where} failed: ${r.stderr.trim()}`);
}

/** Whether a rule of `chain` is in the listed table now (net show's per-rule line). */
export function rulePresent(cur: TableState | undefined, chain: string, rule: string): boolean {
  return cur?.rules.has(ruleComment(chain, rule)) ?? false;
}

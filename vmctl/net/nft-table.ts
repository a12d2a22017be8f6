import { createHash } from "node:crypto";
import { AppError } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

/**
 * One nftables table of vmctl's own, planned from `nft -j list table` like the rest of the
 * fabric. Every vmctl table (port security, security groups, host protection, the router's) is
 * a TableSpec: its sets, counters and chains. Rules carry a digest of their own text in their
 * comment, which is how the reader recognises them; the plan is element updates when the
 * structure is the same, else the table rebuilt, elements included, in one `nft -f` transaction.
 */
export interface SetSpec {
  typeof: string;
  /**
   * The key types `nft -j list` reports for it, in order: how the reader recognises the set.
   * Not needed in a table that keeps its sets (TableSpec.keepSets): those carry a digest.
   */
  types?: readonly string[];
  /** `interval` for sets of prefixes. */
  interval?: boolean;
  /**
   * Filled by the packet path (`update @set`), entries forgotten after `timeout` idle: its
   * elements are state (tracked flows), never planned.
   */
  dynamic?: { timeout: string; size: number };
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
  /**
   * A structure change (a rule changed) flushes and deletes the chains and only the sets and
   * counters no longer wanted as they are, instead of replacing the table: the sets kept keep
   * their elements, dynamic sets their flows, so tracked connections survive rule changes. Its
   * sets carry a digest of their definition in their comment, which is how the reader tells an
   * unchanged set (nft's JSON listing of a set is lossy: it drops `dynamic`). A table with
   * objects vmctl never writes (a map, a set without a digest) is replaced whole.
   */
  keepSets?: boolean;
}

/** The table as listed; undefined when absent. Elements are rendered as nft input writes them. */
export interface TableState {
  structure: string[];
  /** Digests of the rules present (a rule's comment). */
  rules: Set<string>;
  elements: Record<string, string[]>;
}

function digest(text: string): string {
  return `vmctl:${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
}

/** Each rule carries a digest of its own text: how the reader recognises rules vmctl wrote. */
export function ruleComment(chain: string, rule: string): string {
  return digest(`${chain}\n${rule}`);
}

/** A set's definition in `nft -f` syntax, one line (what a keepSets table's digest covers). */
function setBody(s: SetSpec): string {
  const flags = [...(s.interval ? ["interval"] : []), ...(s.dynamic ? ["dynamic,timeout"] : [])];
  return [
    `typeof ${s.typeof};`,
    ...(flags.length ? [`flags ${flags.join(",")};`] : []),
    ...(s.dynamic ? [`timeout ${s.dynamic.timeout};`, `size ${s.dynamic.size};`] : []),
  ].join(" ");
}

function setComment(name: string, s: SetSpec): string {
  return digest(`set ${name}\n${setBody(s)}`);
}

function setLine(spec: TableSpec, name: string, s: SetSpec): string {
  if (spec.keepSets) return `set ${name} ${setComment(name, s)}`;
  return `set ${name} ${(s.types ?? []).join(",")}${s.interval ? " interval" : ""}`;
}

/**
 * Sets with their key types, counters, chains with hooks, each rule by its position in its
 * chain and digest (order decides: a moved rule is a different table); sorted.
 */
export function wantedStructure(spec: TableSpec): string[] {
  return [
    ...Object.entries(spec.sets).map(([name, s]) => setLine(spec, name, s)),
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
  const sets = Object.entries(spec.sets).map(([name, s]) => {
    const comment = spec.keepSets ? ` comment "${setComment(name, s)}"` : "";
    return `\tset ${name} {\n\t\t${setBody(s)}${comment}\n\t}`;
  });
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
      const name = String(set.name);
      structure.push(
        spec.keepSets
          ? `set ${name} ${String(set.comment ?? "-")}`
          : `set ${name} ${types.join(",")}${flags.includes("interval") ? " interval" : ""}`,
      );
      if (Array.isArray(set.elem) && spec.sets[name] && !spec.sets[name].dynamic)
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

/** What the listing names of one kind (`chain`, `set`, `counter`): names, and whole lines. */
function listed(cur: TableState, kind: string): { name: string; line: string }[] {
  return cur.structure
    .filter((l) => l.startsWith(`${kind} `))
    .map((line) => ({ name: line.split(" ")[1] ?? "", line }));
}

/**
 * What goes before the definition when the structure differs, and the sets that keep their
 * elements. Replaced: the table is deleted (`table X` first makes that valid whether or not
 * it exists). Kept (keepSets, vmctl's objects only): every chain flushed, then deleted (no
 * rule refers to another chain any more), and the sets and counters no longer wanted as they
 * are; the definition then adds what is missing.
 */
function teardown(spec: TableSpec, cur: TableState | undefined): [string[], Set<string>] {
  const where = `${spec.family} ${spec.name}`;
  const foreign = cur?.structure.some((l) => l.startsWith("other ") || /^set \S+ -$/.test(l));
  if (!spec.keepSets || foreign) return [[`table ${where}`, `delete table ${where}`], new Set()];
  if (!cur) return [[`table ${where}`], new Set()];
  const wanted = new Set(wantedStructure(spec));
  const chains = listed(cur, "chain").map((c) => c.name);
  const sets = listed(cur, "set");
  const counters = listed(cur, "counter").filter((c) => !spec.counters.includes(c.name));
  return [
    [
      `table ${where}`,
      ...chains.map((c) => `flush chain ${where} ${c}`),
      ...chains.map((c) => `delete chain ${where} ${c}`),
      ...sets.filter((s) => !wanted.has(s.line)).map((s) => `delete set ${where} ${s.name}`),
      ...counters.map((c) => `delete counter ${where} ${c.name}`),
    ],
    new Set(sets.filter((s) => wanted.has(s.line)).map((s) => s.name)),
  ];
}

/**
 * plan(desired, current) as one `nft -f` input, or undefined when nothing differs. `want`
 * undefined: the table should not exist. The same structure: only the elements that differ.
 * A different or damaged structure (a rule deleted, a set changed, an older vmctl's rules):
 * the table is rebuilt (replaced, or in place: TableSpec.keepSets), elements included, in the
 * same transaction, so no packet ever sees a half-built table (conntrack entries are not part
 * of a table: established flows survive). Dynamic sets' elements are never planned.
 */
export function planTableNft(
  spec: TableSpec,
  want: Record<string, string[]> | undefined,
  cur: TableState | undefined,
): string | undefined {
  if (want === undefined) return cur ? `delete table ${spec.family} ${spec.name}\n` : undefined;
  const same = sameStructure(spec, cur);
  const lines: string[] = [];
  const [down, kept] = same ? [[], new Set(Object.keys(spec.sets))] : teardown(spec, cur);
  if (!same) lines.push(...down, tableDefinition(spec).trimEnd());
  for (const [set, s] of Object.entries(spec.sets)) {
    if (s.dynamic) continue;
    const have = new Set(kept.has(set) ? (cur?.elements[set] ?? []) : []);
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

/** What a machine has now, parsed from `ip -json`, `sysctl`, `ipset save` and `iptables -S`. */
export interface MachineState {
  links: LinkState[];
  addrs: AddrState[];
  routes: RouteState[];
  rules: RuleState[];
  sysctls: Record<string, string>;
  /** set name → members */
  ipsets: Record<string, string[]>;
  /** `iptables -t nat -S POSTROUTING` lines starting with -A */
  natRules: string[];
}

export interface LinkState {
  name: string;
  mac: string;
  alias: string | undefined;
  up: boolean;
  kind: string | undefined;
}

export interface AddrState {
  dev: string;
  /** address/prefix */
  cidr: string;
  label: string;
}

export interface RouteState {
  table: number;
  /** unicast, unreachable, local, ... */
  type: string;
  /** "default" or a/nn; host routes have /32 */
  dst: string;
  gateway: string | undefined;
  dev: string | undefined;
  proto: number;
  scope: string | undefined;
  /** A multipath route's gateways, in the kernel's order (then gateway and dev are unset). */
  nexthops?: string[];
  /** 0 unless set */
  metric?: number;
}

export interface RuleState {
  pref: number;
  iif: string | undefined;
  /** `to` selector as a/nn, undefined for all destinations. */
  dst: string | undefined;
  table: number;
  proto: number;
}

type Json = Record<string, unknown>;

function list(text: string): Json[] {
  const v = JSON.parse(text.trim() === "" ? "[]" : text) as unknown;
  return Array.isArray(v) ? (v as Json[]) : [];
}

const s = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** `ip -json -details link show` */
export function parseLinks(text: string): LinkState[] {
  return list(text).map((l) => {
    const info = l.linkinfo as Json | undefined;
    const flags = Array.isArray(l.flags) ? (l.flags as string[]) : [];
    return {
      name: s(l.ifname) ?? "",
      mac: (s(l.address) ?? "").toLowerCase(),
      alias: s(l.ifalias),
      up: flags.includes("UP"),
      kind: s(info?.info_kind),
    };
  });
}

/** `ip -json addr show` (IPv4 only) */
export function parseAddrs(text: string): AddrState[] {
  return list(text).flatMap((l) =>
    (Array.isArray(l.addr_info) ? (l.addr_info as Json[]) : [])
      .filter((a) => a.family === "inet")
      .map((a) => ({
        dev: s(l.ifname) ?? "",
        cidr: `${s(a.local)}/${String(a.prefixlen)}`,
        label: s(a.label) ?? s(l.ifname) ?? "",
      })),
  );
}

/** `ip -N` prints route types as numbers: rtnetlink's RTN_* values. */
const ROUTE_TYPES: Record<string, string> = {
  "1": "unicast",
  "2": "local",
  "3": "broadcast",
  "4": "anycast",
  "5": "multicast",
  "6": "blackhole",
  "7": "unreachable",
  "8": "prohibit",
  "9": "throw",
};

/** `ip -N -json route show table all` (IPv4). Without a table key a route is in main (254). */
export function parseRoutes(text: string): RouteState[] {
  return list(text).map((r) => {
    const dst = s(r.dst) ?? "";
    const type = s(r.type);
    return {
      table: Number(s(r.table) ?? "254"),
      type: type === undefined ? "unicast" : (ROUTE_TYPES[type] ?? type),
      dst: dst === "default" || dst.includes("/") ? dst : `${dst}/32`,
      gateway: s(r.gateway),
      dev: s(r.dev),
      proto: Number(s(r.protocol) ?? "0"),
      scope: s(r.scope),
      ...(Array.isArray(r.nexthops)
        ? { nexthops: (r.nexthops as Json[]).map((h) => s(h.gateway) ?? "") }
        : {}),
      ...(typeof r.metric === "number" && r.metric !== 0 ? { metric: r.metric } : {}),
    };
  });
}

/** `ip -N -json rule show` */
export function parseRules(text: string): RuleState[] {
  return list(text).map((r) => ({
    pref: Number(r.priority ?? 0),
    iif: s(r.iif),
    dst: s(r.dst) === undefined ? undefined : `${s(r.dst)}/${String(r.dstlen ?? 32)}`,
    table: Number(s(r.table) ?? "0"),
    proto: Number(s(r.protocol) ?? "0"),
  }));
}

/** `sysctl -e KEY...` prints `key = value` lines; keys that do not exist are left out. */
export function parseSysctl(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(" = ");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 3).trim();
  }
  return out;
}

/** `ipset save`: `create NAME ...` and `add NAME MEMBER` lines. */
export function parseIpsetSave(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of text.split("\n")) {
    const [verb, name, member] = line.trim().split(/\s+/);
    if (!name) continue;
    if (verb === "create") out[name] ??= [];
    if (verb === "add" && member) {
      out[name] ??= [];
      out[name].push(member.includes("/") ? member : `${member}/32`);
    }
  }
  return out;
}

export function parseIptablesS(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("-A "));
}

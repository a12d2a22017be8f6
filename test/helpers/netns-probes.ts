import { execFile, spawn } from "node:child_process";
import { type DropReason, PORTSEC_TABLE } from "../../vmctl/net/port-security-rules.js";
import { inNs, ip } from "./md-netns.js";

// Observations the fabric test makes inside namespaces: state dumps, counters, probes.

/** What a namespace has, for before/after comparisons (counters removed). */
export function snapshot(ns: string): Record<string, unknown> {
  const json = (...args: string[]) => JSON.parse(ip(ns, "-json", ...args)) as unknown;
  return {
    links: json("link", "show"),
    addrs: json("addr", "show"),
    routes: json("route", "show", "table", "all"),
    rules: json("rule", "show"),
    iptables: iptablesTables(inNs(ns, "iptables-save", [])),
    ipsets: inNs(ns, "ipset", ["list", "-n"]),
  };
}

/**
 * iptables-save without counters and without tables that hold no rules and only ACCEPT
 * policies: once a table has been used (our nat rule), iptables-nft keeps the empty table,
 * which is no behaviour change.
 */
function iptablesTables(save: string): string[] {
  const tables = save
    .split("\n")
    .filter((l) => !l.startsWith("#") && l !== "")
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[]"))
    .join("\n")
    .split("COMMIT")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  return tables.filter((t) =>
    t
      .split("\n")
      .some((l) => l.startsWith("-A ") || (l.startsWith(":") && !l.includes(" ACCEPT "))),
  );
}

export function outRedirects(ns: string): number {
  const lines = inNs(ns, "cat", ["/proc/net/snmp"])
    .split("\n")
    .filter((l) => l.startsWith("Icmp:"));
  const [head, values] = lines.map((l) => l.split(/\s+/));
  const i = head?.indexOf("OutRedirects") ?? -1;
  return Number(values?.[i]);
}

/** Packet count of the iptables rule in `table`/`chain` whose -S form starts with `spec`. */
export function iptablesCount(ns: string, table: string, chain: string, spec: string): number {
  const lines = inNs(ns, "iptables", ["-w", "-t", table, "-S", chain, "-v"]).split("\n");
  const line = lines.find((l) => l.startsWith(`-A ${chain} ${spec} -c `));
  const m = line ? / -c (\d+) \d+$/.exec(line) : null;
  if (!m) throw new Error(`no rule "${spec}" in ${ns} ${table}/${chain}`);
  return Number(m[1]);
}

/** Packets port security dropped on a host for one reason (a named counter of its table). */
export function portSecurityDrops(ns: string, reason: DropReason): number {
  const out = inNs(ns, "nft", ["-j", "list", "counter", "bridge", PORTSEC_TABLE, reason]);
  const items = (JSON.parse(out) as { nftables: { counter?: { packets: number } }[] }).nftables;
  const c = items.find((i) => i.counter)?.counter;
  if (!c) throw new Error(`no counter ${reason} in ${ns}`);
  return c.packets;
}

const LISTENER = `
const s = require("node:dgram").createSocket("udp4");
s.on("message", (m, r) => { console.log(r.address); process.exit(0); });
s.bind(Number(process.argv[1]), process.argv[2], () => console.log("ready"));
setTimeout(() => { console.log("timeout"); process.exit(1); }, 5000);`;

const SENDER = `
const s = require("node:dgram").createSocket("udp4");
let n = 0;
const t = setInterval(() => { s.send("x", Number(process.argv[2]), process.argv[1]); if (++n === 10) { clearInterval(t); s.close(); } }, 100);`;

/**
 * Sends UDP datagrams from `fromNs` to `addr` and returns the source address the listener in
 * `toNs` saw (the test of "source address preserved" / "NATed").
 */
export function udpSourceSeen(
  toNs: string,
  bind: string,
  fromNs: string,
  addr: string,
): Promise<string> {
  const port = String(20000 + Math.floor(Math.random() * 20000));
  return new Promise((resolve, reject) => {
    const child = spawn("ip", [
      "netns",
      "exec",
      toNs,
      process.execPath,
      "-e",
      LISTENER,
      port,
      bind,
    ]);
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
      if (out.startsWith("ready\n") && !out.includes("sent")) {
        out += "sent";
        execFile(
          "ip",
          ["netns", "exec", fromNs, process.execPath, "-e", SENDER, addr, port],
          () => {},
        );
      }
    });
    child.on("error", reject);
    child.on("close", () => {
      const lines = out.replace("sent", "").trim().split("\n");
      resolve(lines[lines.length - 1] ?? "");
    });
  });
}

export function ping(ns: string, addr: string, extra: string[] = []): { ok: boolean; out: string } {
  try {
    return { ok: true, out: inNs(ns, "ping", ["-n", "-c1", "-W1", ...extra, addr], 10_000) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/**
 * A namespace's nftables configuration without its traffic state: counter values (`-s`) and
 * the elements of dynamic sets (security groups' flow tracking, refreshed by every packet).
 */
export function nftConfig(ns: string): string {
  return inNs(ns, "nft", ["-s", "list", "ruleset"]).replace(
    /(flags dynamic[^\n]*\n(?:\t\t[^\n]*\n)*?)\t\telements = \{[^}]*\}\n/g,
    "$1",
  );
}

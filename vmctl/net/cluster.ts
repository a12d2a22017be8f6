import { ConfigError } from "../../lib/errors.js";
import { parseTarget, type Target } from "../../lib/exec/command.js";
import { loadYaml } from "../../lib/yaml-file.js";
import { parseIpv4 } from "./ipv4.js";

export interface HostSpec {
  name: string;
  /** LAN address: the router's next hop for this host's VMs. */
  address: string;
  /** LAN interface name. */
  lan: string;
  target: Target;
  libvirt: string;
  /** On the host: VM disks, DHCP files, known_hosts (default /var/lib/vmctl). */
  stateDir: string;
  /** On the host: where its mdserver records first requests and phone_home (mdserver state-dir). */
  mdserverStateDir: string;
  /** BGP AS number (routing: bgp). */
  as: number;
}

export interface RouterSpec {
  name: string;
  address: string;
  lan: string;
  uplink: string;
  target: Target;
  /** On the router: vmctl's files there (BIRD's config and socket with routing: bgp). */
  stateDir: string;
  as: number;
}

/**
 * How VM /32s reach the router: `static` = vmctl writes one route per VM on the router;
 * `bgp` = each host's BIRD announces its VMs and the router's BIRD installs them.
 */
export type Routing = "static" | "bgp";

export interface Cluster {
  routing: Routing;
  hosts: HostSpec[];
  router: RouterSpec;
}

/** A private 4-byte AS (RFC 6996) for every machine: one iBGP domain, the routers reflect. */
export const DEFAULT_AS = 4200000000;
const DEFAULT_STATE_DIR = "/var/lib/vmctl";

type Obj = Record<string, unknown>;

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const PATH = /^\/[A-Za-z0-9_./-]*$/;

/** Parses cluster.yaml; every error is one line naming the file and the key. */
export function parseCluster(text: string, file: string): Cluster {
  const doc = loadYaml(file, text);
  const fail = (key: string, why: string): never => {
    throw new ConfigError(`${file}: ${key}: ${why}`);
  };
  if (!isObj(doc)) return fail("(top)", "expected a mapping with hosts and router");
  unknownKeys(doc, ["routing", "hosts", "router"], "", fail);
  const routing = doc.routing ?? "static";
  if (routing !== "static" && routing !== "bgp")
    return fail("routing", `"${String(routing)}" must be static or bgp`);
  if (!Array.isArray(doc.hosts) || doc.hosts.length === 0)
    return fail("hosts", "expected a non-empty list");
  const hosts = doc.hosts.map((h: unknown, i: number): HostSpec => {
    const key = `hosts[${i}]`;
    if (!isObj(h)) return fail(key, "expected a mapping");
    unknownKeys(
      h,
      ["name", "address", "lan", "target", "libvirt", "state-dir", "mdserver-state-dir", "as"],
      key,
      fail,
    );
    return {
      name: str(h, "name", key, fail, NAME),
      address: addr(h, key, fail),
      lan: str(h, "lan", key, fail, IFNAME),
      target: target(h, key, fail),
      libvirt: h.libvirt === undefined ? "qemu:///system" : str(h, "libvirt", key, fail),
      stateDir: stateDir(h, key, fail),
      mdserverStateDir:
        h["mdserver-state-dir"] === undefined
          ? "/var/lib/mdserver"
          : str(h, "mdserver-state-dir", key, fail, PATH),
      as: asNumber(h, key, fail),
    };
  });
  if (!isObj(doc.router)) return fail("router", "expected a mapping");
  const r = doc.router;
  unknownKeys(r, ["name", "address", "lan", "uplink", "target", "state-dir", "as"], "router", fail);
  const router: RouterSpec = {
    name: str(r, "name", "router", fail, NAME),
    address: addr(r, "router", fail),
    lan: str(r, "lan", "router", fail, IFNAME),
    uplink: str(r, "uplink", "router", fail, IFNAME),
    target: target(r, "router", fail),
    stateDir: stateDir(r, "router", fail),
    as: asNumber(r, "router", fail),
  };
  const names = new Set<string>();
  const addresses = new Set<string>([router.address]);
  hosts.forEach((h, i) => {
    if (names.has(h.name) || h.name === router.name)
      fail(`hosts[${i}].name`, `duplicate name ${h.name}`);
    if (addresses.has(h.address)) fail(`hosts[${i}].address`, `duplicate address ${h.address}`);
    names.add(h.name);
    addresses.add(h.address);
  });
  return { routing, hosts, router };
}

type Fail = (key: string, why: string) => never;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Obj, allowed: string[], prefix: string, fail: Fail): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) fail(prefix ? `${prefix}.${k}` : k, "unknown key");
}

function str(o: Obj, k: string, prefix: string, fail: Fail, pattern?: RegExp): string {
  const v = o[k];
  if (typeof v !== "string" || v === "") return fail(`${prefix}.${k}`, "required string");
  if (pattern && !pattern.test(v)) return fail(`${prefix}.${k}`, `invalid value "${v}"`);
  return v;
}

function addr(o: Obj, prefix: string, fail: Fail): string {
  const v = str(o, "address", prefix, fail);
  if (parseIpv4(v) === undefined) fail(`${prefix}.address`, `"${v}" is not an IPv4 address`);
  return v;
}

function target(o: Obj, prefix: string, fail: Fail): Target {
  const v = o.target === undefined ? "local" : str(o, "target", prefix, fail);
  const t = parseTarget(v);
  if (!t) return fail(`${prefix}.target`, `"${v}" must be local, netns:NAME or ssh:root@host`);
  return t;
}

function stateDir(o: Obj, prefix: string, fail: Fail): string {
  return o["state-dir"] === undefined ? DEFAULT_STATE_DIR : str(o, "state-dir", prefix, fail, PATH);
}

function asNumber(o: Obj, prefix: string, fail: Fail): number {
  const v = o.as ?? DEFAULT_AS;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 4294967295)
    return fail(`${prefix}.as`, `"${String(v)}" must be an AS number from 1 to 4294967295`);
  return v;
}

import { z } from "zod";
import { ConfigError } from "../../lib/errors.js";
import { LOCAL, parseTarget, type Target } from "../../lib/exec/command.js";
import { describeIssue, loadYaml } from "../../lib/yaml-file.js";
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
  /** The site it is in: it sends VM traffic to that site's routers. */
  site: string;
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
  site: string;
  /** Where routers of other sites reach its WireGuard tunnels (its uplink address). */
  endpoint?: string;
  /** Its own address on every tunnel to another site (BGP over the tunnel uses it). */
  tunnelAddress?: string;
}

/** How tunnel interfaces are made: the kernel module, or wireguard-go where there is none. */
export type WireguardKind = "kernel" | "userspace";

/**
 * How VM /32s reach the router: `static` = vmctl writes one route per VM on the router;
 * `bgp` = each host's BIRD announces its VMs and the router's BIRD installs them.
 */
export type Routing = "static" | "bgp";

/** A port VMs may reach on their own network's bridge address (cluster file `host-allow`). */
export interface HostException {
  proto: "tcp" | "udp";
  /** First and last port (the same for one port). */
  ports: [number, number];
}

export interface Cluster {
  routing: Routing;
  wireguard: WireguardKind;
  hosts: HostSpec[];
  /** One or more, in the order of the cluster file (`router:` is a list of one). */
  routers: RouterSpec[];
  /** Exceptions to host protection; default none (closed). */
  hostAllow: HostException[];
  /** TTL of metadata token responses (issue 9: AWS's hop limit), default 1. */
  tokenHopLimit: number;
}

/** The routers a host sends its VMs' traffic to and peers with: those of its own site. */
export function siteRouters(cluster: Cluster, site: string): RouterSpec[] {
  return cluster.routers.filter((r) => r.site === site);
}

/** A private 4-byte AS (RFC 6996) for every machine: one iBGP domain, the routers reflect. */
export const DEFAULT_AS = 4200000000;
const DEFAULT_STATE_DIR = "/var/lib/vmctl";
export const DEFAULT_SITE = "main";

const IFNAME = {
  re: /^[A-Za-z0-9_.@-]{1,15}$/,
  why: "an interface name: up to 15 letters, digits and _ . @ -",
};
const NAME = {
  re: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
  why: "up to 63 letters, digits and _ . -, starting with a letter or digit",
};
const PATH = { re: /^\/[A-Za-z0-9_./-]*$/, why: "an absolute path of letters, digits and _ . / -" };

/** A non-empty string, matching `pattern` if given: the messages every key here shares. */
function str(pattern?: { re: RegExp; why: string }) {
  const s = z.string({ error: "required string" }).min(1, { error: "required string" });
  return pattern
    ? s.regex(pattern.re, {
        error: (iss) => `invalid value "${String(iss.input)}" (${pattern.why})`,
      })
    : s;
}

const address = str().refine((v) => parseIpv4(v) !== undefined, {
  error: (iss) => `"${String(iss.input)}" is not an IPv4 address`,
});

const target = str()
  .default("local")
  .transform((v, ctx): Target => {
    const t = parseTarget(v);
    if (!t)
      ctx.addIssue({
        code: "custom",
        message: `"${v}" must be local, netns:NAME or ssh:root@host`,
      });
    return t ?? LOCAL;
  });

const stateDir = str(PATH).default(DEFAULT_STATE_DIR);

const asNumber = z
  .custom<number>(
    (v) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 4294967295,
    {
      error: (iss) => `"${String(iss.input)}" must be an AS number from 1 to 4294967295`,
    },
  )
  .default(DEFAULT_AS);

/**
 * Where a host's libvirtd is when the cluster file does not say: vmctl runs virsh on this
 * machine, so an ssh: host's is reached over libvirt's ssh transport, through the same
 * destination (and vmctl's ssh options, vmctl/ssh/virsh-ssh.ts); any other host's is the
 * system libvirtd of the machine vmctl runs on (a netns host shares it unless told otherwise).
 */
export function defaultLibvirtUri(target: Target): string {
  return target.kind === "ssh" ? `qemu+ssh://${target.destination}/system` : "qemu:///system";
}

const hostSchema = z
  .object(
    {
      name: str(NAME),
      address,
      lan: str(IFNAME),
      target,
      libvirt: str().optional(),
      "state-dir": stateDir,
      "mdserver-state-dir": str(PATH).default("/var/lib/mdserver"),
      as: asNumber,
      site: str(NAME).default(DEFAULT_SITE),
    },
    { error: "expected a mapping" },
  )
  .strict()
  .transform(
    (h): HostSpec => ({
      name: h.name,
      address: h.address,
      lan: h.lan,
      target: h.target,
      libvirt: h.libvirt ?? defaultLibvirtUri(h.target),
      stateDir: h["state-dir"],
      mdserverStateDir: h["mdserver-state-dir"],
      as: h.as,
      site: h.site,
    }),
  );

const routerSchema = z
  .object(
    {
      name: str(NAME),
      address,
      lan: str(IFNAME),
      uplink: str(IFNAME),
      target,
      "state-dir": stateDir,
      as: asNumber,
      site: str(NAME).default(DEFAULT_SITE),
      endpoint: address.optional(),
      "tunnel-address": address.optional(),
    },
    { error: "expected a mapping" },
  )
  .strict()
  .transform(
    (r): RouterSpec => ({
      name: r.name,
      address: r.address,
      lan: r.lan,
      uplink: r.uplink,
      target: r.target,
      stateDir: r["state-dir"],
      as: r.as,
      site: r.site,
      ...(r.endpoint ? { endpoint: r.endpoint } : {}),
      ...(r["tunnel-address"] ? { tunnelAddress: r["tunnel-address"] } : {}),
    }),
  );

/** `tcp:22` or `udp:5000-5010`. */
export function parseHostException(text: string): HostException | undefined {
  const m = /^(tcp|udp):(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const lo = Number(m[2]);
  const hi = Number(m[3] ?? m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) return undefined;
  return { proto: m[1] as "tcp" | "udp", ports: [lo, hi] };
}

const hostException = str().transform((v, ctx): HostException => {
  const e = parseHostException(v);
  if (!e)
    ctx.addIssue({
      code: "custom",
      message: `"${v}" must be tcp:PORT or udp:PORT[-PORT] with ports 1-65535`,
    });
  return e ?? { proto: "tcp", ports: [1, 1] };
});

/** cluster.yaml, declared: keys, types and defaults in one place, unknown keys refused. */
const clusterSchema = z
  .object(
    {
      routing: z
        .enum(["static", "bgp"], {
          error: (iss) => `"${String(iss.input)}" must be static or bgp`,
        })
        .default("static"),
      wireguard: z
        .enum(["kernel", "userspace"], {
          error: (iss) => `"${String(iss.input)}" must be kernel or userspace`,
        })
        .default("kernel"),
      hosts: z
        .array(hostSchema, { error: "expected a non-empty list" })
        .min(1, { error: "expected a non-empty list" }),
      router: routerSchema.optional(),
      routers: z
        .array(routerSchema, { error: "expected a non-empty list" })
        .min(1, { error: "expected a non-empty list" })
        .optional(),
      "host-allow": z.array(hostException, { error: "expected a list" }).default([]),
      "token-hop-limit": z
        .custom<number>((v) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 255, {
          error: (iss) => `"${String(iss.input)}" must be a TTL from 1 to 255`,
        })
        .default(1),
    },
    { error: "expected a mapping with hosts and router (or routers)" },
  )
  .strict();

/** Parses cluster.yaml; every error is one line naming the file and the key. */
export function parseCluster(text: string, file: string): Cluster {
  const parsed = clusterSchema.safeParse(loadYaml(file, text));
  if (!parsed.success)
    throw new ConfigError(`${file}: ${describeIssue(parsed.error.issues[0], { top: "(top)" })}`);
  const { routing, wireguard, hosts, router, routers: list } = parsed.data;
  const hostAllow = parsed.data["host-allow"];
  const tokenHopLimit = parsed.data["token-hop-limit"];
  const fail = (key: string, why: string): never => {
    throw new ConfigError(`${file}: ${key}: ${why}`);
  };
  if (router && list) fail("routers", "give either router (one) or routers (a list), not both");
  const routers = list ?? (router ? [router] : fail("router", "required (or routers: a list)"));
  const key = list ? (i: number) => `routers[${i}]` : () => "router";
  const names = new Set<string>();
  const addresses = new Set<string>();
  const unique = (what: string, name: string, address: string) => {
    if (names.has(name)) fail(`${what}.name`, `duplicate name ${name}`);
    if (addresses.has(address)) fail(`${what}.address`, `duplicate address ${address}`);
    names.add(name);
    addresses.add(address);
  };
  routers.forEach((r, i) => {
    unique(key(i), r.name, r.address);
  });
  hosts.forEach((h, i) => {
    unique(`hosts[${i}]`, h.name, h.address);
    if (!routers.some((r) => r.site === h.site))
      fail(`hosts[${i}].site`, `no router in site ${h.site} (give a router site: ${h.site})`);
  });
  const sites = new Set(routers.map((r) => r.site));
  if (routing === "static" && sites.size > 1)
    fail("routing", "several sites need routing: bgp (static routes do not cross sites)");
  if (sites.size > 1) {
    const tunnels = new Set<string>();
    routers.forEach((r, i) => {
      if (!r.endpoint)
        fail(`${key(i)}.endpoint`, "required with several sites (its uplink address)");
      if (!r.tunnelAddress)
        fail(
          `${key(i)}.tunnel-address`,
          "required with several sites (an address for its tunnels)",
        );
      if (tunnels.has(r.tunnelAddress ?? ""))
        fail(`${key(i)}.tunnel-address`, `duplicate address ${r.tunnelAddress}`);
      tunnels.add(r.tunnelAddress ?? "");
    });
  }
  return { routing, wireguard, hosts, routers, hostAllow, tokenHopLimit };
}

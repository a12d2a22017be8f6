import type { Network } from "./model.js";
import { PROTO } from "./names.js";

/**
 * BIRD 2 configuration for routing: bgp, rendered from the store and the cluster (pure). Hosts
 * learn their VMs' /32s from the kernel tables the port API writes and announce them; the
 * router accepts only VM /32s of vmctl's networks and installs them (docs/fabric.md,
 * "Distributing routes").
 */

/** Where BIRD's files live on a machine: under vmctl's state-dir, so several BIRDs can share one. */
export interface BirdPaths {
  dir: string;
  config: string;
  socket: string;
  pid: string;
  log: string;
}

export function birdPaths(stateDir: string): BirdPaths {
  const dir = `${stateDir}/bird`;
  return {
    dir,
    config: `${dir}/bird.conf`,
    socket: `${dir}/bird.ctl`,
    pid: `${dir}/bird.pid`,
    log: `${dir}/bird.log`,
  };
}

export interface BgpPeer {
  /** Machine name, for the session's description. */
  name: string;
  address: string;
  as: number;
}

/** A router of another site, reached over a tunnel (docs/fabric.md "Sites"). */
export interface SitePeer extends BgpPeer {
  /** This router's own address on that tunnel (`address` is the peer's). */
  local: string;
}

export interface RouterOptions {
  /** Routers of other sites, one BGP session over each tunnel. */
  sites: SitePeer[];
}

export interface BirdMachine {
  /** The machine's LAN address: its router id and the session's local address. */
  address: string;
  as: number;
  networks: Network[];
  paths: BirdPaths;
}

/**
 * Session timers: a dead peer is noticed in 6 s by BGP itself and in about 1 s by BFD, a
 * restarted peer reconnects within a second or two (BIRD's defaults: 240 s hold, 5 s connect
 * delay, 60 s after an error). Graceful restart (30 s) lets the other side keep a peer's routes
 * while that peer's BIRD restarts, instead of withdrawing them (a ~4 s blackhole measured with
 * the defaults).
 */
const TIMERS = [
  "direct;",
  "hold time 6;",
  "keepalive time 2;",
  "connect delay time 1;",
  "connect retry time 5;",
  "error wait time 1, 30;",
];
const GRACEFUL = ["graceful restart on;", "graceful restart time 30;"];

/**
 * BFD: 200 ms × 5, a lost peer in about 1 s (chosen, not tuned: shorter risks false alarms on busy
 * shared cores); it is what ends a router's share of the hosts' ECMP routes when its link is cut.
 */
function bfd(neighbors: string[]): string[] {
  return [
    "protocol bfd {",
    '  interface "*" {',
    "    interval 200 ms;",
    "    multiplier 5;",
    "  };",
    ...neighbors.map((n) => `  neighbor ${n};`),
    "}",
    "",
  ];
}

/** A burst of 10,000 route changes overflows the default netlink buffer (docs/fabric.md). */
const NETLINK_RX_BUFFER = 8 * 1024 * 1024;

function header(
  m: BirdMachine,
  role: string,
  global: string[] = [],
  bfdNeighbors: string[] = [],
): string[] {
  return [
    `# Written by vmctl ${role} apply (routing: bgp); changes here are overwritten.`,
    `log "${m.paths.log}" 1048576 "${m.paths.log}.old" all;`,
    `router id ${m.address};`,
    ...global,
    "",
    "protocol device {}",
    "",
    ...bfd(bfdNeighbors),
  ];
}

function ident(address: string): string {
  return address.replaceAll(".", "_");
}

/** Every VM /32 of every vmctl network, as a BIRD prefix set; undefined when there are none. */
function vmPrefixes(networks: Network[]): string | undefined {
  if (networks.length === 0) return undefined;
  return `[ ${networks.map((n) => `${n.subnet}{32,32}`).join(", ")} ]`;
}

/** The subnets themselves, exactly (what the routers announce to the hosts). */
function netPrefixes(networks: Network[]): string | undefined {
  if (networks.length === 0) return undefined;
  return `[ ${networks.map((n) => n.subnet).join(", ")} ]`;
}

function defines(networks: Network[]): string[] {
  const vms = vmPrefixes(networks);
  const nets = netPrefixes(networks);
  return vms && nets ? [`define VMCTL_VMS = ${vms};`, `define VMCTL_NETS = ${nets};`, ""] : [];
}

function session(
  kind: string,
  local: { address: string; as: number },
  peer: BgpPeer,
  extra: string[],
  channel: string[],
): string[] {
  return [
    `protocol bgp ${kind}_${ident(peer.address)} {`,
    `  description "${kind} ${peer.name}";`,
    `  local ${local.address} as ${local.as};`,
    `  neighbor ${peer.address} as ${peer.as};`,
    ...[...TIMERS, ...extra].map((l) => `  ${l}`),
    "  ipv4 {",
    ...channel.map((l) => `    ${l}`),
    "  };",
    "}",
    "",
  ];
}

/**
 * A host: one kernel protocol per network table (BIRD connects one kernel protocol to one BIRD
 * table), learning only vmctl's /32s of that network (`krt_source` = vmctl's route protocol),
 * piped into master4 and announced to every router of its site with this host as the next hop.
 * From the routers it takes only the default route and the subnets, each router as its own
 * next hop, and writes them into every network table as one ECMP route over the routers it
 * has a session with (`merge paths`): a router BFD loses (its BIRD died, or its link) drops
 * out of them at once: `bfd on` ends the session even while graceful restart would keep its
 * routes. They win over vmctl's own routes to the routers, which stay below them
 * (a higher metric) for when BIRD is not running.
 */
export function renderHostBird(host: BirdMachine, routers: BgpPeer[]): string {
  const nets = vmPrefixes(host.networks);
  const lines = header(host, "host");
  lines.push(...defines(host.networks));
  for (const n of host.networks) {
    const t = `vmctl_${n.table}`;
    lines.push(
      `# ${n.name} ${n.subnet}: kernel table ${n.table}`,
      `ipv4 table ${t};`,
      `protocol kernel kernel_${n.table} {`,
      "  ipv4 {",
      `    table ${t};`,
      `    import where krt_source = ${PROTO} && net ~ [ ${n.subnet}{32,32} ];`,
      "    export where source = RTS_BGP;",
      "  };",
      `  kernel table ${n.table};`,
      "  learn;",
      "  merge paths on;",
      "  scan time 10;",
      `  netlink rx buffer ${NETLINK_RX_BUFFER};`,
      "}",
      `protocol pipe pipe_${n.table} {`,
      `  table ${t};`,
      "  peer table master4;",
      "  import where source = RTS_BGP;",
      "  export where source != RTS_BGP;",
      "}",
      "",
    );
  }
  for (const r of routers)
    lines.push(
      ...session(
        "router",
        host,
        r,
        [...GRACEFUL, "bfd on;"],
        [
          nets
            ? `import where (net = 0.0.0.0/0 || net ~ VMCTL_NETS) && bgp_next_hop = ${r.address};`
            : `import where net = 0.0.0.0/0 && bgp_next_hop = ${r.address};`,
          nets ? "export where net ~ VMCTL_VMS;" : "export none;",
          "next hop self;",
        ],
      ),
    );
  return `${lines.join("\n").trimEnd()}\n`;
}

/**
 * A router: a route reflector for the hosts of its site. It accepts from a host only /32s
 * inside vmctl's subnets with that host as the next hop (no default route, no other range, no
 * pointing a VM at another machine), and from a router of another site only such /32s with that
 * router as the next hop; it installs them in the kernel's main table. It announces to its hosts
 * only the default route and the subnets, itself as next hop, and to the other sites the VM
 * routes of its own hosts, itself as next hop (the tunnel's far end knows no host of this
 * site). `persist` and kernel graceful restart keep the installed routes while BIRD itself
 * restarts; `graceful restart wait` bounds a recovery start (-R) when a host never comes back.
 */
export function renderRouterBird(
  router: BirdMachine,
  hosts: BgpPeer[],
  opts: RouterOptions = { sites: [] },
): string {
  const nets = netPrefixes(router.networks);
  // The router answers its hosts' BFD without acting on it (a `neighbor` session, not one
  // of its BGP sessions): a host's graceful restart stops its BFD too, and a BFD down arriving
  // after the restarted host's new session is up made the router drop that session and
  // withdraw the host's routes (seen under load). Hosts need no fast detection by the router.
  const lines = header(
    router,
    "router",
    ["graceful restart wait 20;"],
    hosts.map((h) => h.address),
  );
  lines.push(...defines(router.networks));
  lines.push(
    "protocol static vmctl_uplink {",
    "  ipv4;",
    "  route 0.0.0.0/0 unreachable;",
    ...router.networks.map((n) => `  route ${n.subnet} unreachable;`),
    "}",
    "",
    "protocol kernel kernel_main {",
    "  ipv4 {",
    "    import none;",
    nets ? "    export where source = RTS_BGP && net ~ VMCTL_VMS;" : "    export none;",
    "  };",
    "  persist;",
    "  graceful restart on;",
    "  merge paths on;",
    "  scan time 10;",
    `  netlink rx buffer ${NETLINK_RX_BUFFER};`,
    "}",
    "",
  );
  // (BIRD's `graceful restart aware` would not keep a restarting host's routes: only `on` does.)
  const toHost = GRACEFUL;
  for (const h of hosts)
    lines.push(
      ...session(
        "host",
        router,
        h,
        // Route reflection exists only inside one AS; a host in another AS is a plain eBGP peer.
        h.as === router.as ? [...toHost, "rr client;"] : toHost,
        [
          nets ? `import where net ~ VMCTL_VMS && bgp_next_hop = ${h.address};` : "import none;",
          'export where proto = "vmctl_uplink";',
          "next hop self;",
        ],
      ),
    );
  for (const s of opts.sites)
    lines.push(
      ...session(
        "site",
        { address: s.local, as: router.as },
        s,
        [...GRACEFUL, "bfd on;"],
        [
          nets ? `import where net ~ VMCTL_VMS && bgp_next_hop = ${s.address};` : "import none;",
          nets ? "export where net ~ VMCTL_VMS && source = RTS_BGP;" : "export none;",
          "next hop self;",
        ],
      ),
    );
  return `${lines.join("\n").trimEnd()}\n`;
}

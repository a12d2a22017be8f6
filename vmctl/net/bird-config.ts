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

export interface BirdMachine {
  /** The machine's LAN address: its router id and the session's local address. */
  address: string;
  as: number;
  networks: Network[];
  paths: BirdPaths;
}

/**
 * Session timers: a dead peer is noticed in 6 s, a restarted peer reconnects within a second
 * or two (BIRD's defaults: 240 s hold, 5 s connect delay, 60 s after an error). Graceful
 * restart keeps the peer's routes for 30 s while its BIRD restarts, instead of withdrawing
 * them (a ~4 s blackhole measured with the defaults).
 */
const SESSION = [
  "direct;",
  "hold time 6;",
  "keepalive time 2;",
  "connect delay time 1;",
  "connect retry time 5;",
  "error wait time 1, 30;",
  "graceful restart on;",
  "graceful restart time 30;",
];

/** A burst of 10,000 route changes overflows the default netlink buffer (docs/fabric.md). */
const NETLINK_RX_BUFFER = 8 * 1024 * 1024;

function header(m: BirdMachine, role: string, global: string[] = []): string[] {
  return [
    `# Written by vmctl ${role} apply (routing: bgp); changes here are overwritten.`,
    `log "${m.paths.log}" 1048576 "${m.paths.log}.old" all;`,
    `router id ${m.address};`,
    ...global,
    "",
    "protocol device {}",
    "",
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

function session(
  kind: string,
  local: BirdMachine,
  peer: BgpPeer,
  extra: string[],
  channel: string[],
): string[] {
  return [
    `protocol bgp ${kind}_${ident(peer.address)} {`,
    `  description "${kind} ${peer.name}";`,
    `  local ${local.address} as ${local.as};`,
    `  neighbor ${peer.address} as ${peer.as};`,
    ...[...SESSION, ...extra].map((l) => `  ${l}`),
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
 * piped into master4 and announced to every router with this host as the next hop. It imports
 * nothing: VM traffic follows the network table's default route, not BGP.
 */
export function renderHostBird(host: BirdMachine, routers: BgpPeer[]): string {
  const nets = vmPrefixes(host.networks);
  const lines = header(host, "host");
  if (nets) lines.push(`define VMCTL_VMS = ${nets};`, "");
  for (const n of host.networks) {
    const t = `vmctl_${n.table}`;
    lines.push(
      `# ${n.name} ${n.subnet}: kernel table ${n.table}`,
      `ipv4 table ${t};`,
      `protocol kernel kernel_${n.table} {`,
      "  ipv4 {",
      `    table ${t};`,
      `    import where krt_source = ${PROTO} && net ~ [ ${n.subnet}{32,32} ];`,
      "    export none;",
      "  };",
      `  kernel table ${n.table};`,
      "  learn;",
      "  scan time 10;",
      `  netlink rx buffer ${NETLINK_RX_BUFFER};`,
      "}",
      `protocol pipe pipe_${n.table} {`,
      `  table ${t};`,
      "  peer table master4;",
      "  import none;",
      "  export all;",
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
        [],
        ["import none;", nets ? "export where net ~ VMCTL_VMS;" : "export none;", "next hop self;"],
      ),
    );
  return `${lines.join("\n").trimEnd()}\n`;
}

/**
 * The router: a route reflector for the hosts. It accepts from a host only /32s inside vmctl's
 * subnets with that host as the next hop (no default route, no other range, no pointing a VM
 * at another machine), and installs them in the kernel's main table. `persist` and kernel
 * graceful restart keep the installed routes while BIRD itself restarts; `graceful restart
 * wait` bounds a recovery start (-R) when a host never comes back.
 */
export function renderRouterBird(router: BirdMachine, hosts: BgpPeer[]): string {
  const nets = vmPrefixes(router.networks);
  const lines = header(router, "router", ["graceful restart wait 20;"]);
  if (nets) lines.push(`define VMCTL_VMS = ${nets};`, "");
  lines.push(
    "protocol kernel kernel_main {",
    "  ipv4 {",
    "    import none;",
    "    export where source = RTS_BGP;",
    "  };",
    "  persist;",
    "  graceful restart on;",
    "  scan time 10;",
    `  netlink rx buffer ${NETLINK_RX_BUFFER};`,
    "}",
    "",
  );
  for (const h of hosts)
    lines.push(
      ...session(
        "host",
        router,
        h,
        // Route reflection exists only inside one AS; a host in another AS is a plain eBGP peer.
        h.as === router.as ? ["rr client;"] : [],
        [
          nets ? `import where net ~ VMCTL_VMS && bgp_next_hop = ${h.address};` : "import none;",
          // Hosts import nothing, so reflecting routes to them would only cost.
          "export none;",
        ],
      ),
    );
  return `${lines.join("\n").trimEnd()}\n`;
}

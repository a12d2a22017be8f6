import { looksMissing } from "../net/preflight.js";

/** One thing `vmctl doctor` looked at on one machine, with what to do when it is not right. */
export interface Finding {
  check: string;
  level: "ok" | "warn" | "error";
  message: string;
  fix?: string;
}

export type Role = "host" | "router";

/**
 * Kernel features by role: the config symbol, the module name `/proc/modules` shows when it is
 * a module, and how bad its absence is. The bridge family of nftables is port security's
 * (docs/port-security.md); conntrack in the bridge family is what stateful rules there need.
 */
export interface KernelFeature {
  module: string;
  config: string;
  roles: Role[];
  missing: Finding["level"];
  why: string;
}

export const KERNEL_FEATURES: KernelFeature[] = [
  { module: "bridge", config: "BRIDGE", roles: ["host"], missing: "error", why: "network bridges" },
  {
    module: "nf_tables",
    config: "NF_TABLES",
    roles: ["host", "router"],
    missing: "error",
    why: "nftables, for port security",
  },
  {
    module: "nf_tables (bridge family)",
    config: "NF_TABLES_BRIDGE",
    roles: ["host"],
    missing: "error",
    why: "port security's table bridge vmctl_portsec",
  },
  {
    module: "nf_conntrack_bridge",
    config: "NF_CONNTRACK_BRIDGE",
    roles: ["host"],
    missing: "warn",
    why: "connection tracking of bridged frames, for stateful bridge-family rules",
  },
  {
    module: "nf_nat",
    config: "NF_NAT",
    roles: ["router"],
    missing: "error",
    why: "masquerading VM traffic to the uplink",
  },
  {
    module: "vhost_net",
    config: "VHOST_NET",
    roles: ["host"],
    missing: "warn",
    why: "virtio-net in the kernel; without it QEMU moves every packet itself",
  },
  {
    module: "wireguard",
    config: "WIREGUARD",
    roles: ["host", "router"],
    // Reported only: vmctl's fabric does not use it.
    missing: "ok",
    why: "encrypted tunnels between machines, not used by vmctl's fabric",
  },
  {
    module: "kvm",
    config: "KVM",
    roles: ["host"],
    missing: "warn",
    why: "hardware virtualisation",
  },
];

/** `CONFIG_X=y|m` lines of a kernel config (`/proc/config.gz`, `/boot/config-RELEASE`). */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^CONFIG_(\w+)=(.*)$/.exec(line.trim());
    if (m?.[1]) out.set(m[1], m[2] ?? "");
  }
  return out;
}

export interface KernelFacts {
  release: string;
  /** undefined: no kernel config could be read. */
  config: Map<string, string> | undefined;
  /** Modules in /proc/modules and names under /sys/module (loaded, or built in with parameters). */
  loaded: Set<string>;
}

export function kernelFindings(role: Role, k: KernelFacts): Finding[] {
  return KERNEL_FEATURES.filter((f) => f.roles.includes(role)).map((f): Finding => {
    const check = `kernel ${f.module}`;
    const value = k.config?.get(f.config);
    // "nf_tables (bridge family)" is a part of a module: only the kernel config tells.
    const plain = f.module.includes(" ") ? undefined : f.module;
    if (value === "y") return { check, level: "ok", message: `built in (${f.why})` };
    if (plain && k.loaded.has(plain)) return { check, level: "ok", message: `loaded (${f.why})` };
    if (value === "m")
      return { check, level: "ok", message: `module, loaded on first use (${f.why})` };
    if (k.config === undefined)
      return {
        check,
        level: "warn",
        message: `not loaded, and no kernel config to tell whether ${k.release} has it (${f.why})`,
        fix: plain ? `modprobe ${plain}` : `a kernel with CONFIG_${f.config}`,
      };
    return {
      check,
      level: f.missing,
      message: `not in kernel ${k.release}: CONFIG_${f.config} is not set (${f.why})`,
      ...(f.missing === "ok" ? {} : { fix: `a kernel with CONFIG_${f.config}=y or m` }),
    };
  });
}

/**
 * bridge-nf-call-*: with br_netfilter every bridged frame between two VMs of one host also
 * passes iptables/ip6tables/arptables FORWARD, where a DROP policy (Docker sets one) silently
 * cuts them off; vmctl's filtering is nftables' bridge family and needs none of it.
 */
export const BR_NETFILTER_SYSCTLS = [
  "net.bridge.bridge-nf-call-iptables",
  "net.bridge.bridge-nf-call-ip6tables",
  "net.bridge.bridge-nf-call-arptables",
];

export function brNetfilterFinding(sysctls: Record<string, string>): Finding {
  const on = BR_NETFILTER_SYSCTLS.filter((k) => sysctls[k] === "1");
  if (on.length === 0)
    return { check: "br_netfilter", level: "ok", message: "bridged frames skip iptables" };
  return {
    check: "br_netfilter",
    level: "warn",
    message: `${on.join(", ")} = 1: frames between VMs on one bridge also pass iptables FORWARD (a DROP policy there cuts them off)`,
    fix: `sysctl -w ${on.map((k) => `${k}=0`).join(" ")}`,
  };
}

/** Tools by role, the arguments that print a version, and their Debian package. */
export interface Tool {
  name: string;
  args: string[];
  pkg: string;
  roles: Role[];
  /** Only with routing: bgp. */
  bgp?: boolean;
  missing: "error" | "warn";
  why: string;
}

export const TOOLS: Tool[] = [
  {
    name: "ip",
    args: ["-V"],
    pkg: "iproute2",
    roles: ["host", "router"],
    missing: "error",
    why: "the fabric",
  },
  {
    name: "bridge",
    args: ["-V"],
    pkg: "iproute2",
    roles: ["host"],
    missing: "error",
    why: "port FDB entries",
  },
  {
    name: "nft",
    args: ["--version"],
    pkg: "nftables",
    roles: ["host", "router"],
    missing: "error",
    why: "vmctl's firewall tables",
  },
  {
    name: "sysctl",
    args: ["-V"],
    pkg: "procps",
    roles: ["host", "router"],
    missing: "error",
    why: "the fabric",
  },
  {
    name: "arping",
    args: ["--help"],
    pkg: "arping",
    roles: ["host"],
    missing: "error",
    why: "gratuitous ARP when a VM leaves",
  },
  {
    name: "dnsmasq",
    args: ["--version"],
    pkg: "dnsmasq-base",
    roles: ["host"],
    missing: "error",
    why: "DHCP reservations",
  },
  {
    name: "virsh",
    args: ["--version"],
    pkg: "libvirt-clients",
    roles: ["host"],
    missing: "warn",
    why: "mdserver reads libvirt with it",
  },
  {
    name: "qemu-system-x86_64",
    args: ["--version"],
    pkg: "qemu-system-x86",
    roles: ["host"],
    missing: "error",
    why: "running VMs",
  },
  {
    name: "qemu-img",
    args: ["--version"],
    pkg: "qemu-utils",
    roles: ["host"],
    missing: "error",
    why: "disks and snapshots",
  },
  {
    name: "curl",
    args: ["--version"],
    pkg: "curl",
    roles: ["host"],
    missing: "warn",
    why: "doctor's mdserver check",
  },
  {
    name: "bird",
    args: ["--version"],
    pkg: "bird2",
    roles: ["host", "router"],
    bgp: true,
    missing: "error",
    why: "routing: bgp",
  },
  {
    name: "birdc",
    args: ["-h"],
    pkg: "bird2",
    roles: ["host", "router"],
    bgp: true,
    missing: "error",
    why: "routing: bgp",
  },
];

/** The first version-looking word of a tool's output (stdout or stderr: bird prints there). */
export function parseVersion(output: string): string | undefined {
  const first = output.split("\n").find((l) => /\d+\.\d+/.test(l)) ?? "";
  return /\d+\.\d+(?:\.\d+)?(?:[-+~][\w.+~-]*)?/.exec(first)?.[0];
}

export function toolFinding(
  t: Tool,
  r: { exitCode: number | undefined; stdout: string; stderr: string },
): Finding {
  const check = `tool ${t.name}`;
  if (looksMissing(r.exitCode, r.stderr))
    return {
      check,
      level: t.missing,
      message: `not found (${t.why})`,
      fix: `apt install ${t.pkg}`,
    };
  const v = parseVersion(`${r.stdout}\n${r.stderr}`);
  return { check, level: "ok", message: v ? `version ${v}` : "present" };
}

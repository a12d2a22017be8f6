import {
  DEFAULT_AS,
  DEFAULT_SITE,
  type HostSpec,
  type RouterSpec,
} from "../../vmctl/net/cluster.js";

/** host1 as cluster.yaml's defaults describe it; tests override what they exercise. */
export function testHost(over: Partial<HostSpec> = {}): HostSpec {
  return {
    name: "host1",
    address: "198.18.0.11",
    lan: "eth0",
    target: { kind: "local" },
    libvirt: "qemu:///system",
    stateDir: "/var/lib/vmctl",
    mdserverStateDir: "/var/lib/mdserver",
    as: DEFAULT_AS,
    site: DEFAULT_SITE,
    ...over,
  };
}

/** The router as cluster.yaml's defaults describe it. */
export function testRouter(over: Partial<RouterSpec> = {}): RouterSpec {
  return {
    name: "router",
    address: "198.18.0.1",
    lan: "eth0",
    uplink: "up0",
    target: { kind: "local" },
    stateDir: "/var/lib/vmctl",
    as: DEFAULT_AS,
    site: DEFAULT_SITE,
    ...over,
  };
}

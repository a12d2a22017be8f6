import type { HostSpec } from "../../vmctl/net/cluster.js";

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
    ...over,
  };
}

import { createHash } from "node:crypto";
import type { Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { allKeys, firstIpv4, namesFor } from "./ec2-tree.js";
import { type Dir, dir, leaf, type Tree } from "./tree.js";

/**
 * The OpenStack metadata service's versions, oldest first, as nova lists them under
 * /openstack (cloud-init picks the newest it knows, else `latest`; docs/cloud-init.md).
 */
export const OPENSTACK_VERSIONS = [
  "2012-08-10",
  "2013-04-04",
  "2013-10-17",
  "2015-10-15",
  "2016-06-30",
  "2016-10-06",
  "2017-02-22",
  "2018-08-27",
  "latest",
];

/**
 * /openstack/ for one instance: every version serves the same documents (each newer version
 * only adds optional fields). user_data is added per request by the caller, like EC2's.
 * Listings are plain names, as nova's: cloud-init compares the version lines verbatim.
 */
export function buildOpenstackTree(inst: Instance, config: MdserverConfig): Dir {
  const files: Record<string, Tree> = {
    "meta_data.json": leaf(JSON.stringify(metaData(inst, config))),
    "network_data.json": leaf(JSON.stringify(networkData(inst))),
    "vendor_data.json": leaf("{}"),
    "vendor_data2.json": leaf("{}"),
  };
  const version = dir(files, Object.keys(files).join("\n"));
  const versions = Object.fromEntries(OPENSTACK_VERSIONS.map((v) => [v, version]));
  return dir(versions, OPENSTACK_VERSIONS.join("\n"));
}

function metaData(inst: Instance, config: MdserverConfig) {
  const keys = allKeys(inst, config);
  const { fqdn } = namesFor(inst, config);
  return {
    uuid: inst.uuid,
    name: inst.name,
    hostname: fqdn,
    launch_index: 0,
    availability_zone: config.server["availability-zone"],
    project_id: config.server["account-id"],
    public_keys: Object.fromEntries(keys.map((k) => [k.name, k.key])),
    keys: keys.map((k) => ({ name: k.name, type: "ssh", data: k.key })),
    meta: {},
    devices: [],
  };
}

/**
 * network_data.json: the VM's address as a static IPv4 network on its first NIC, with the
 * default route via its network's gateway, so the guest does not depend on DHCP. Without a
 * known subnet only the link is described (the guest then uses DHCP, as on EC2).
 */
export function networkData(inst: Instance) {
  const mac = inst.macs[0];
  const ip = firstIpv4(inst);
  if (!mac) return { links: [], networks: [], services: [] };
  const link = { id: "tap0", type: "phy", ethernet_mac_address: mac, mtu: 1500 };
  const prefix = inst.subnet ? Number(inst.subnet.split("/")[1]) : undefined;
  if (!ip || prefix === undefined || !Number.isInteger(prefix)) {
    return {
      links: [link],
      networks: [{ id: "network0", type: "ipv4_dhcp", link: link.id, network_id: netId(inst) }],
      services: [],
    };
  }
  return {
    links: [link],
    networks: [
      {
        id: "network0",
        type: "ipv4",
        link: link.id,
        ip_address: ip,
        netmask: netmaskOf(prefix),
        network_id: netId(inst),
        // The default route as the network's `gateway` (a key cloud-init copies into its
        // subnet): renderers write a real gateway line; a 0.0.0.0/0 entry in `routes` becomes
        // a `route add` hook in ifupdown instead, which needs net-tools.
        ...(inst.gateway ? { gateway: inst.gateway } : {}),
        routes: [],
      },
    ],
    services: [],
  };
}

function netmaskOf(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join(".");
}

/** A stable UUID-shaped id for the instance's network (nova gives neutron's network id). */
function netId(inst: Instance): string {
  const h = createHash("sha256")
    .update(`network:${inst.network ?? inst.subnet ?? ""}`)
    .digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

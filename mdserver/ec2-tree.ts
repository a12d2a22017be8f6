import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { amiIdFor, type Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import type { IdentitySigner } from "./identity/identity-store.js";
import { type Dir, dir, lazyLeaf, leaf, type Tree } from "./tree.js";

export interface Names {
  hostname: string;
  fqdn: string;
}

/** The instance's first IPv4 address (local-ipv4, privateIp): records may list IPv6 too. */
export function firstIpv4(inst: Instance): string | undefined {
  return inst.addresses.find((a) => isIP(a) === 4);
}

export function namesFor(inst: Instance, config: MdserverConfig): Names {
  const hostname = inst.hostname ?? `${config.server["hostname-prefix"]}${inst.name}`;
  const domain = config.server.domain;
  return { hostname, fqdn: domain ? `${hostname}.${domain}` : hostname };
}

export function allKeys(inst: Instance, config: MdserverConfig) {
  return [...inst.sshKeys, ...config.publicKeys];
}

/** meta-data/ and dynamic/ for one instance. Built once per instance and config, then cached. */
export function buildTree(
  inst: Instance,
  config: MdserverConfig,
  signer: IdentitySigner | undefined,
): Dir {
  const s = config.server;
  const { fqdn } = namesFor(inst, config);
  const ip = firstIpv4(inst);
  const ip6 = inst.addresses.find((a) => isIP(a) === 6);
  const mac = inst.macs[0];
  const keys = allKeys(inst, config);
  const publicKeys: Record<string, Tree> = {};
  keys.forEach((k, i) => {
    publicKeys[String(i)] = dir({ "openssh-key": leaf(k.key) });
  });
  const metaData = dir({
    "ami-id": leaf(amiIdFor(inst.image)),
    "ami-launch-index": leaf("0"),
    "block-device-mapping": dir({ ami: leaf("vda"), root: leaf("/dev/vda") }),
    hostname: leaf(fqdn),
    "instance-id": leaf(inst.instanceId),
    "instance-type": leaf(inst.instanceType ?? s["instance-type"]),
    // AWS's meta-data/ipv6: the instance's (first) IPv6 address, when it has one.
    ipv6: ip6 ? leaf(ip6) : undefined,
    "local-hostname": leaf(fqdn),
    "local-ipv4": ip ? leaf(ip) : undefined,
    mac: mac ? leaf(mac) : undefined,
    // cloud-init 24+ warns without it (and boots "degraded"); listing MACs makes it write dhcp4
    // for each, and vmctl's guests get DHCP on theirs: on by default.
    network: s["network-interfaces"] && mac ? networkTree(inst, config, fqdn) : undefined,
    placement: dir({ "availability-zone": leaf(s["availability-zone"]), region: leaf(s.region) }),
    "public-keys": keys.length
      ? dir(publicKeys, keys.map((k, i) => `${i}=${k.name}`).join("\n"))
      : undefined,
    "reservation-id": leaf(`r-${inst.instanceId.slice(2)}`),
  });
  return dir({
    "meta-data": metaData,
    dynamic: dir({ "instance-identity": identityTree(identityDocument(inst, config), signer) }),
  });
}

/** AWS's four: the document, its RSA-SHA256 signature, and PKCS#7 (pkcs7, rsa2048) over it. */
function identityTree(document: string, signer: IdentitySigner | undefined): Dir {
  if (!signer) return dir({ document: leaf(document) });
  const pkcs7 = lazyLeaf(() => signer.pkcs7(document));
  return dir({
    document: leaf(document),
    pkcs7,
    rsa2048: pkcs7,
    signature: lazyLeaf(() => signer.signature(document)),
  });
}

/** An AWS-shaped resource id (eni-, vpc-, subnet-, sg- and 17 hex), stable for its inputs. */
const awsId = (prefix: string, ...parts: string[]) =>
  `${prefix}-${createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 17)}`;

/**
 * network/interfaces/macs/<mac>/, with the leaves AWS serves. Each vmctl network stands for a
 * VPC with one subnet of the same CIDR (and one security group); the first MAC holds the
 * instance's address. Leaves whose value the record does not carry are left out, never empty.
 */
function networkTree(inst: Instance, config: MdserverConfig, fqdn: string): Tree {
  const net = inst.network ?? inst.subnet ?? "default";
  const cidr = inst.subnet ? leaf(inst.subnet) : undefined;
  const macs: Record<string, Tree> = {};
  inst.macs.forEach((mac, i) => {
    const v4 = firstIpv4(inst);
    const v6 = inst.addresses.filter((a) => isIP(a) === 6);
    const primary = i === 0;
    macs[mac] = dir({
      "device-number": leaf(String(i)),
      "interface-id": leaf(awsId("eni", inst.uuid, mac)),
      "local-hostname": primary && v4 ? leaf(fqdn) : undefined,
      ipv6s: primary && v6.length ? leaf(v6.join("\n")) : undefined,
      "local-ipv4s": primary && v4 ? leaf(v4) : undefined,
      mac: leaf(mac),
      "owner-id": leaf(config.server["account-id"]),
      "security-group-ids": leaf(awsId("sg", net)),
      "security-groups": leaf(net),
      "subnet-id": leaf(awsId("subnet", net)),
      "subnet-ipv4-cidr-block": cidr,
      "vpc-id": leaf(awsId("vpc", net)),
      "vpc-ipv4-cidr-block": cidr,
      "vpc-ipv4-cidr-blocks": cidr,
    });
  });
  return dir({ interfaces: dir({ macs: dir(macs) }) });
}

/** dynamic/instance-identity/document, shaped (keys, order, spacing) as AWS serves it. */
export function identityDocument(inst: Instance, config: MdserverConfig): string {
  const s = config.server;
  const doc = {
    accountId: s["account-id"],
    architecture: "x86_64",
    availabilityZone: s["availability-zone"],
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: amiIdFor(inst.image),
    instanceId: inst.instanceId,
    instanceType: inst.instanceType ?? s["instance-type"],
    kernelId: null,
    pendingTime: inst.created ?? "1970-01-01T00:00:00Z",
    privateIp: firstIpv4(inst) ?? null,
    ramdiskId: null,
    region: s.region,
    version: "2017-09-30",
  };
  return JSON.stringify(doc, null, 2).replaceAll('": ', '" : ');
}

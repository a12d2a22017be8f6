import { createHash } from "node:crypto";

export interface SshKey {
  name: string;
  key: string;
}

/** Everything mdserver knows about one VM. */
export interface Instance {
  /** The libvirt domain name (or the YAML entry's name). */
  name: string;
  uuid: string;
  /** i-<17 hex>, derived from the domain UUID so it survives IP changes. */
  instanceId: string;
  hostname: string | undefined;
  network: string | undefined;
  /** The network's IPv4 CIDR (10.10.10.0/24): meta-data's subnet and VPC blocks. */
  subnet: string | undefined;
  /** The network's gateway (its default route): OpenStack's network_data.json routes. */
  gateway: string | undefined;
  /** Addresses this instance asks from; the source address of a request selects it. */
  addresses: string[];
  /** MACs of the domain's interfaces, lower case; the first is the primary one. */
  macs: string[];
  sshKeys: SshKey[];
  /** A crypt(3) hash ($6$...), never a plain password. */
  passwordHash: string | undefined;
  sshPwauth: boolean | undefined;
  /** Served byte for byte as user-data when set (cloud-config, script, multipart or gzip). */
  userData: Buffer | undefined;
  image: string | undefined;
  instanceType: string | undefined;
  /** ISO time of creation, for the identity document's pendingTime. */
  created: string | undefined;
  /** The image's login user (vmctl ssh), e.g. debian, ubuntu, fedora. */
  loginUser: string | undefined;
  source: "libvirt" | "file";
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/** AWS instance ids are `i-` and 17 hex digits: take them from the UUID. */
export function instanceIdFromUuid(uuid: string): string {
  return `i-${uuid.replaceAll("-", "").toLowerCase().slice(0, 17)}`;
}

/** A stable UUID-shaped id for YAML entries that give none. */
export function uuidFromName(name: string): string {
  const h = createHash("sha256").update(`mdserver:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function amiIdFor(image: string | undefined): string {
  if (!image) return "ami-00000000000000000";
  return `ami-${createHash("sha256").update(image).digest("hex").slice(0, 17)}`;
}

const KEY_TYPES =
  /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;

export function isSshPublicKey(text: string): boolean {
  return KEY_TYPES.test(text.trim());
}

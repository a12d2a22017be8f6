import { isIP } from "node:net";
import { XMLParser } from "fast-xml-parser";
import { type Instance, instanceIdFromUuid, type SshKey } from "./instance.js";
import { isIpv4Cidr, normalizeMac } from "./net-address.js";

/**
 * The project's element inside a libvirt domain's <metadata>. vmctl writes it, mdserver reads it.
 *
 *   <vmctl:instance xmlns:vmctl="urn:vmctl:instance:1">
 *     <vmctl:hostname>web1</vmctl:hostname>        optional, default: the domain name
 *     <vmctl:network>net1</vmctl:network>          optional
 *     <vmctl:subnet>10.10.10.0/24</vmctl:subnet>   optional: the network's CIDR
 *     <vmctl:gateway>10.10.10.1</vmctl:gateway>    optional: the network's gateway
 *     <vmctl:ip>10.10.10.11</vmctl:ip>             one or more; identifies the VM's requests
 *     <vmctl:ssh-key name="alice">ssh-ed25519 AAAA...</vmctl:ssh-key>   zero or more
 *     <vmctl:password-hash>$6$...</vmctl:password-hash>                 optional
 *     <vmctl:ssh-pwauth>yes|no</vmctl:ssh-pwauth>                       optional
 *     <vmctl:user-data encoding="base64">...</vmctl:user-data>          optional, served verbatim
 *     <vmctl:image>debian-12</vmctl:image>  <vmctl:instance-type>..</vmctl:instance-type>
 *     <vmctl:created>2026-01-01T00:00:00Z</vmctl:created>
 *     <vmctl:login-user>debian</vmctl:login-user>   optional: who `vmctl ssh` logs in as
 *   </vmctl:instance>
 */
export const METADATA_NS = "urn:vmctl:instance:1";
export const METADATA_PREFIX = "vmctl";

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ["interface", "ip", "ssh-key"].includes(name.split(":").pop() ?? name),
});

type Node = Record<string, unknown>;

/** Reads one `virsh dumpxml` document; undefined if it is not a domain. */
export function instanceFromDomainXml(xml: string): Instance | undefined {
  const doc = parser.parse(xml) as Node;
  const domain = doc.domain as Node | undefined;
  if (!domain) return undefined;
  const name = text(domain.name);
  const uuid = text(domain.uuid)?.toLowerCase();
  if (!name || !uuid) return undefined;
  const macs: string[] = [];
  const devices = domain.devices as Node | undefined;
  for (const nic of (devices?.interface as Node[] | undefined) ?? []) {
    const mac = normalizeMac(String((nic.mac as Node | undefined)?.["@address"] ?? ""));
    if (mac) macs.push(mac);
  }
  const md = ourElement(domain.metadata as Node | undefined);
  const field = (key: string) => (md ? text(md[`${md.prefix}${key}`]) : undefined);
  const list = (key: string) => (md ? ((md[`${md.prefix}${key}`] as unknown[]) ?? []) : []);
  const userData = md?.[`${md.prefix}user-data`];
  return {
    name,
    uuid,
    instanceId: instanceIdFromUuid(uuid),
    hostname: field("hostname"),
    network: field("network"),
    // A hand-written record with a malformed CIDR just serves no subnet blocks.
    subnet: [field("subnet")].find((s) => s !== undefined && isIpv4Cidr(s)),
    gateway: [field("gateway")].find((g) => g !== undefined && isIP(g) === 4),
    addresses: list("ip")
      .map(text)
      .filter((a): a is string => !!a && isIP(a) !== 0),
    macs,
    sshKeys: list("ssh-key").flatMap((k): SshKey[] => {
      const key = text(k);
      return key ? [{ name: attr(k, "name") ?? "default", key }] : [];
    }),
    passwordHash: field("password-hash"),
    sshPwauth: yesNo(field("ssh-pwauth")),
    userData: userData === undefined ? undefined : decodeUserData(userData),
    image: field("image"),
    instanceType: field("instance-type"),
    created: field("created"),
    loginUser: field("login-user"),
    source: "libvirt",
  };
}

/** Finds our element whatever prefix the writer chose: the namespace URI decides. */
function ourElement(metadata: Node | undefined): (Node & { prefix: string }) | undefined {
  if (!metadata || typeof metadata !== "object") return undefined;
  for (const [tag, value] of Object.entries(metadata)) {
    if (typeof value !== "object" || value === null) continue;
    const node = value as Node;
    const [prefix, local] = tag.includes(":") ? tag.split(":") : ["", tag];
    const nsAttr = prefix ? `@xmlns:${prefix}` : "@xmlns";
    if (local === "instance" && node[nsAttr] === METADATA_NS) {
      return { ...node, prefix: prefix ? `${prefix}:` : "" };
    }
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "object" && value !== null) return text((value as Node)["#text"]);
  return undefined;
}

function attr(value: unknown, name: string): string | undefined {
  return typeof value === "object" && value !== null
    ? ((value as Node)[`@${name}`] as string | undefined)
    : undefined;
}

function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  return ["yes", "true", "1"].includes(value.toLowerCase());
}

/** Bytes, never text: a gzip'd user-data must reach cloud-init exactly as written. */
function decodeUserData(node: unknown): Buffer {
  const body = text(node) ?? "";
  return attr(node, "encoding") === "base64" ? Buffer.from(body, "base64") : Buffer.from(body);
}

/** Escapes text for an element or an attribute, whichever quote the attribute uses. */
export const escapeXml = (s: string): string =>
  s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");

export interface MetadataFields {
  hostname?: string;
  network?: string;
  subnet?: string;
  gateway?: string;
  addresses: string[];
  sshKeys: SshKey[];
  passwordHash?: string;
  sshPwauth?: boolean;
  userData?: string | Uint8Array;
  image?: string;
  instanceType?: string;
  created?: string;
  loginUser?: string;
}

/** Renders our <metadata> element (the inverse of instanceFromDomainXml's reading). */
export function renderMetadataElement(f: MetadataFields): string {
  return render(f, `${METADATA_PREFIX}:`, ` xmlns:${METADATA_PREFIX}="${METADATA_NS}"`);
}

/**
 * The same element for `virsh metadata --key vmctl --set XML -- DOMAIN URI`: with no prefix and
 * no namespace declaration. libvirt puts the element and its children into the URI's namespace
 * under the key's prefix itself, and refuses ("failed to create a new XML namespace") an
 * element that already declares the key's prefix (checked with libvirt 9.0; docs/libvirt.md).
 */
export function renderMetadataForSet(f: MetadataFields): string {
  return render(f, "", "");
}

function render(f: MetadataFields, p: string, ns: string): string {
  const el = (tag: string, value: string, attrs = "") =>
    `    <${p}${tag}${attrs}>${escapeXml(value)}</${p}${tag}>`;
  const lines = [`  <${p}instance${ns}>`];
  if (f.hostname) lines.push(el("hostname", f.hostname));
  if (f.network) lines.push(el("network", f.network));
  if (f.subnet) lines.push(el("subnet", f.subnet));
  if (f.gateway) lines.push(el("gateway", f.gateway));
  for (const ip of f.addresses) lines.push(el("ip", ip));
  for (const k of f.sshKeys) lines.push(el("ssh-key", k.key, ` name="${escapeXml(k.name)}"`));
  if (f.passwordHash) lines.push(el("password-hash", f.passwordHash));
  if (f.sshPwauth !== undefined) lines.push(el("ssh-pwauth", f.sshPwauth ? "yes" : "no"));
  if (f.userData !== undefined)
    lines.push(el("user-data", Buffer.from(f.userData).toString("base64"), ' encoding="base64"'));
  if (f.image) lines.push(el("image", f.image));
  if (f.instanceType) lines.push(el("instance-type", f.instanceType));
  if (f.created) lines.push(el("created", f.created));
  if (f.loginUser) lines.push(el("login-user", f.loginUser));
  lines.push(`  </${p}instance>`);
  return lines.join("\n");
}

/**
 * The fields of a record as read, to write it back changed (`vmctl resize`). What the reader
 * drops is not kept: elements it does not know and values it ignores (a malformed subnet), so a
 * record vmctl wrote comes back as it was and a hand-written one in vmctl's own form.
 */
export function metadataFieldsOf(inst: Instance): MetadataFields {
  const optional = {
    hostname: inst.hostname,
    network: inst.network,
    subnet: inst.subnet,
    gateway: inst.gateway,
    passwordHash: inst.passwordHash,
    sshPwauth: inst.sshPwauth,
    userData: inst.userData,
    image: inst.image,
    instanceType: inst.instanceType,
    created: inst.created,
    loginUser: inst.loginUser,
  };
  const set = Object.entries(optional).filter(([, v]) => v !== undefined);
  return {
    addresses: [...inst.addresses],
    sshKeys: inst.sshKeys.map((k) => ({ ...k })),
    ...(Object.fromEntries(set) as Partial<MetadataFields>),
  };
}

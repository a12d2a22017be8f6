import { isIP } from "node:net";
import yaml from "js-yaml";
import { isCryptHash } from "../../lib/crypt/sha512-crypt.js";
import { ConfigError } from "../../lib/errors.js";
import {
  type Instance,
  instanceIdFromUuid,
  isSshPublicKey,
  isUuid,
  type SshKey,
  uuidFromName,
} from "../../lib/instance.js";
import { normalizeMac } from "../../lib/net-address.js";

/**
 * A YAML file of instances, for VMs vmctl did not create:
 *
 *   instances:
 *     - name: web1                  # required, unique
 *       ip: 10.0.0.5                # or ips: [10.0.0.5, ...]; required
 *       uuid: 4e1c...               # optional; instance-id derives from it (else from the name)
 *       hostname: web1              # optional, default: name
 *       mac: 52:54:00:12:34:56      # or macs: [...]
 *       ssh-keys: {alice: "ssh-ed25519 AAAA..."}   # or a list of keys
 *       password-hash: $6$...       # crypt hash, never a plain password
 *       ssh-pwauth: true
 *       user-data: |                # served verbatim
 *         #cloud-config
 *       image, instance-type, network, created
 */
const KEYS = new Set([
  "name",
  "ip",
  "ips",
  "uuid",
  "hostname",
  "mac",
  "macs",
  "ssh-keys",
  "password-hash",
  "ssh-pwauth",
  "user-data",
  "image",
  "instance-type",
  "network",
  "created",
]);

export function parseInstancesYaml(file: string, text: string): Instance[] {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0];
    throw new ConfigError(`${file}: not valid YAML: ${first}`);
  }
  if (doc === undefined || doc === null) return [];
  const list = (doc as { instances?: unknown }).instances;
  if (typeof doc !== "object" || !Array.isArray(list)) {
    throw new ConfigError(`${file}: expected a top-level "instances:" list`);
  }
  const names = new Set<string>();
  return list.map((entry, i) => {
    const inst = parseEntry(`${file}: instances[${i}]`, entry);
    if (names.has(inst.name))
      throw new ConfigError(`${file}: instances[${i}].name: "${inst.name}" is used twice`);
    names.add(inst.name);
    return inst;
  });
}

function parseEntry(where: string, entry: unknown): Instance {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ConfigError(`${where}: expected a mapping with name and ip`);
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!KEYS.has(key))
      throw new ConfigError(`${where}.${key}: unknown key (known: ${[...KEYS].join(", ")})`);
  }
  const str = (key: string): string | undefined => {
    const v = e[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string" || typeof v === "number") return String(v);
    if (v instanceof Date) return v.toISOString();
    throw new ConfigError(`${where}.${key}: expected text`);
  };
  const strs = (one: string, many: string): string[] => {
    const v = e[many] ?? (e[one] === undefined ? [] : [e[one]]);
    if (!Array.isArray(v)) throw new ConfigError(`${where}.${many}: expected a list`);
    return v.map(String);
  };
  const name = str("name");
  if (!name) throw new ConfigError(`${where}.name: required`);
  const addresses = strs("ip", "ips");
  if (addresses.length === 0)
    throw new ConfigError(`${where}: needs ip (the address its requests come from)`);
  for (const a of addresses)
    if (!isIP(a)) throw new ConfigError(`${where}.ip: "${a}" is not an IP address`);
  const macs = strs("mac", "macs").map((m) => {
    const n = normalizeMac(m);
    if (!n) throw new ConfigError(`${where}.mac: "${m}" is not a MAC address`);
    return n;
  });
  const uuid = str("uuid")?.toLowerCase() ?? uuidFromName(name);
  if (!isUuid(uuid)) throw new ConfigError(`${where}.uuid: "${uuid}" is not a UUID`);
  const passwordHash = str("password-hash");
  if (passwordHash && !isCryptHash(passwordHash)) {
    throw new ConfigError(
      `${where}.password-hash: not a crypt hash (make one with: openssl passwd -6)`,
    );
  }
  const pwauth = e["ssh-pwauth"];
  if (pwauth !== undefined && typeof pwauth !== "boolean") {
    throw new ConfigError(`${where}.ssh-pwauth: expected true or false`);
  }
  return {
    name,
    uuid,
    instanceId: instanceIdFromUuid(uuid),
    hostname: str("hostname"),
    network: str("network"),
    addresses,
    macs,
    sshKeys: parseKeys(`${where}.ssh-keys`, e["ssh-keys"]),
    passwordHash,
    sshPwauth: pwauth as boolean | undefined,
    userData: str("user-data"),
    image: str("image"),
    instanceType: str("instance-type"),
    created: str("created"),
    loginUser: undefined,
    source: "file",
  };
}

function parseKeys(where: string, value: unknown): SshKey[] {
  if (value === undefined || value === null) return [];
  const pairs: [string, unknown][] = Array.isArray(value)
    ? value.map((k, i) => [i === 0 ? "default" : `key${i}`, k])
    : typeof value === "object"
      ? Object.entries(value as Record<string, unknown>)
      : [];
  if (pairs.length === 0 && !Array.isArray(value))
    throw new ConfigError(`${where}: expected a list or a mapping of keys`);
  return pairs.map(([name, key]) => {
    if (typeof key !== "string" || !isSshPublicKey(key)) {
      throw new ConfigError(`${where}.${name}: not an OpenSSH public key`);
    }
    return { name, key: key.trim() };
  });
}

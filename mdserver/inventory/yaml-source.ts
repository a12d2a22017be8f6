import { isIP } from "node:net";
import { z } from "zod";
import { isCryptHash } from "../../lib/crypt/sha512-crypt.js";
import { ConfigError } from "../../lib/errors.js";
import {
  type Instance,
  instanceIdFromUuid,
  isSshPublicKey,
  isUuid,
  uuidFromName,
} from "../../lib/instance.js";
import { isIpv4Cidr, normalizeMac } from "../../lib/net-address.js";
import { describeIssue, loadYaml } from "../../lib/yaml-file.js";
import { MAX_RECORD_USER_DATA } from "../user-data.js";

/**
 * A YAML file of instances, for VMs vmctl did not create:
 *
 *   instances:
 *     - name: web1                  # required, unique
 *       ip: 10.0.0.5                # or ips: [10.0.0.5, ...]; required
 *       uuid: 4e1c...               # optional; instance-id = its first 17 hex digits (else from
 *                                   # the name); unique, and so are those 17 digits
 *       hostname: web1              # optional, default: name
 *       mac: 52:54:00:12:34:56      # or macs: [...]
 *       ssh-keys: {alice: "ssh-ed25519 AAAA..."}   # or a list of keys
 *       password-hash: $6$...       # crypt hash, never a plain password
 *       ssh-pwauth: true
 *       user-data: |                # served byte for byte; at most 16 KiB (AWS's limit);
 *         #cloud-config             # binary (gzip): user-data: !!binary H4sI...
 *       image, instance-type, network, created
 *       subnet: 10.0.0.0/24         # optional: the network's CIDR (meta-data's subnet blocks)
 *       gateway: 10.0.0.1           # optional: its default route (OpenStack network_data.json)
 */
const text = (what = "text") =>
  z.union([z.string(), z.number()], {
    error: (iss) => (iss.input === undefined ? "required" : `expected ${what}`),
  });
const ip = z.string({ error: "expected an IP address" }).refine((a) => isIP(a) !== 0, {
  error: (iss) => `"${String(iss.input)}" is not an IP address`,
});
const mac = z.string({ error: "expected a MAC address" }).transform((m, ctx) => {
  const n = normalizeMac(m);
  if (!n) ctx.addIssue({ code: "custom", message: `"${m}" is not a MAC address` });
  return n ?? m;
});
const sshKey = z
  .string({ error: "not an OpenSSH public key" })
  .refine(isSshPublicKey, { error: "not an OpenSSH public key" })
  .transform((k) => k.trim());
/** A list of keys is named default, key1, key2... (the first is what cloud-init calls default). */
const sshKeys = z.preprocess(
  (v) =>
    Array.isArray(v)
      ? Object.fromEntries(v.map((k, i) => [i === 0 ? "default" : `key${i}`, k]))
      : v,
  z.record(z.string(), sshKey, { error: "expected a list or a mapping of keys" }),
);

const entrySchema = z
  .object(
    {
      name: text(),
      ip: ip.optional(),
      ips: z.array(ip, { error: "expected a list" }).optional(),
      uuid: z
        .string({ error: "expected a UUID" })
        .refine(isUuid, { error: (iss) => `"${String(iss.input)}" is not a UUID` })
        .transform((u) => u.toLowerCase())
        .optional(),
      hostname: text().optional(),
      mac: mac.optional(),
      macs: z.array(mac, { error: "expected a list" }).optional(),
      "ssh-keys": sshKeys.optional(),
      "password-hash": z
        .string({ error: "expected text" })
        .refine(isCryptHash, { error: "not a crypt hash (make one with: openssl passwd -6)" })
        .optional(),
      "ssh-pwauth": z.boolean({ error: "expected true or false" }).optional(),
      "user-data": z
        .union([z.string().transform((t) => Buffer.from(t)), z.instanceof(Uint8Array)], {
          error: "expected text (or !!binary base64)",
        })
        .transform((b) => Buffer.from(b))
        .refine((b) => b.length <= MAX_RECORD_USER_DATA, {
          error: `more than ${MAX_RECORD_USER_DATA} bytes (AWS's limit; use a file in userdata-dir)`,
        })
        .optional(),
      image: text().optional(),
      "instance-type": text().optional(),
      network: text().optional(),
      subnet: z
        .string({ error: "expected a CIDR like 10.0.0.0/24" })
        .refine(isIpv4Cidr, {
          error: (iss) => `"${String(iss.input)}" is not a CIDR like 10.0.0.0/24`,
        })
        .optional(),
      gateway: z
        .string({ error: "expected an IPv4 address" })
        .refine((g) => isIP(g) === 4, {
          error: (iss) => `"${String(iss.input)}" is not an IPv4 address`,
        })
        .optional(),
      // YAML reads an unquoted 2026-01-01T00:00:00Z as a date.
      created: z
        .union([z.string(), z.date().transform((d) => d.toISOString())], {
          error: "expected a time",
        })
        .optional(),
    },
    { error: "expected a mapping with name and ip" },
  )
  .strict();

const fileSchema = z
  .object(
    { instances: z.array(entrySchema, { error: 'expected a top-level "instances:" list' }) },
    { error: 'expected a top-level "instances:" list' },
  )
  .strict();

type Entry = z.infer<typeof entrySchema>;
const KNOWN = Object.keys(entrySchema.shape).join(", ");
const hint = (path: string) => `known: ${path === "" ? "instances" : KNOWN}`;

export function parseInstancesYaml(file: string, source: string): Instance[] {
  const doc = loadYaml(file, source);
  if (doc === undefined || doc === null) return [];
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success)
    throw new ConfigError(`${file}: ${describeIssue(parsed.error.issues[0], { hint })}`);
  const instances = parsed.data.instances.map((e, i) => toInstance(`${file}: instances[${i}]`, e));
  refuseShared(file, instances);
  return instances;
}

function toInstance(where: string, e: Entry): Instance {
  const name = String(e.name);
  const addresses = e.ips ?? (e.ip === undefined ? [] : [e.ip]);
  if (addresses.length === 0)
    throw new ConfigError(`${where}: needs ip (the address its requests come from)`);
  const uuid = e.uuid ?? uuidFromName(name);
  const opt = (v: string | number | undefined) => (v === undefined ? undefined : String(v));
  return {
    name,
    uuid,
    instanceId: instanceIdFromUuid(uuid),
    hostname: opt(e.hostname),
    network: opt(e.network),
    subnet: e.subnet,
    gateway: e.gateway,
    addresses,
    macs: e.macs ?? (e.mac === undefined ? [] : [e.mac]),
    sshKeys: Object.entries(e["ssh-keys"] ?? {}).map(([n, key]) => ({ name: n, key })),
    passwordHash: e["password-hash"],
    sshPwauth: e["ssh-pwauth"],
    userData: e["user-data"],
    image: opt(e.image),
    instanceType: opt(e["instance-type"]),
    created: e.created,
    loginUser: undefined,
    source: "file",
  };
}

/**
 * Two entries with one name, UUID or instance-id would share tokens and a boot record: refuse.
 * The instance-id keeps only the UUID's first 17 hex digits, so distinct UUIDs can collide.
 */
function refuseShared(file: string, instances: Instance[]): void {
  const names = new Map<string, number>();
  const uuids = new Map<string, number>();
  const ids = new Map<string, number>();
  instances.forEach((inst, i) => {
    const at = `${file}: instances[${i}]`;
    const n = names.get(inst.name);
    if (n !== undefined)
      throw new ConfigError(`${at}.name: "${inst.name}" is used twice (instances[${n}])`);
    const u = uuids.get(inst.uuid);
    if (u !== undefined)
      throw new ConfigError(`${at}.uuid: "${inst.uuid}" is used twice (instances[${u}])`);
    const d = ids.get(inst.instanceId);
    if (d !== undefined) {
      throw new ConfigError(
        `${at}.uuid: gives instance-id ${inst.instanceId} like instances[${d}] (the first 17 hex digits must differ)`,
      );
    }
    names.set(inst.name, i);
    uuids.set(inst.uuid, i);
    ids.set(inst.instanceId, i);
  });
}

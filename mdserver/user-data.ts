import { join } from "node:path";
import yaml from "js-yaml";
import { AppError } from "../lib/errors.js";
import type { Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { allKeys, namesFor } from "./ec2-tree.js";

/** Reads a file's bytes, or undefined when it does not exist. */
export type ReadOptional = (path: string) => Promise<Buffer | undefined>;

/** AWS's limit for user-data given with the instance (the record: domain metadata, YAML). */
export const MAX_RECORD_USER_DATA = 16 * 1024;
/** The limit for files in userdata-dir (read on every request: keep them small). */
export const MAX_USER_DATA_FILE = 1024 * 1024;

export const PHONE_HOME_URL = "http://169.254.169.254/latest/phone-home";
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/**
 * user-data, first match wins:
 *  1. the instance's own user-data (vmctl --user-data, or the YAML file's user-data)
 *  2. <userdata-dir>/<domain name>
 *  3. <userdata-dir>/<mac> for each of its MACs (52:54:00:aa:bb:cc, or with dashes)
 *  4. <userdata-dir>/default
 *  5. a #cloud-config made from the instance record, unless generate-user-data = no
 * Served byte for byte (cloud-config, script, multipart, gzip: cloud-init unpacks gzip itself).
 * undefined means 404; a record over 16 KiB is an error (logged, 500) naming the instance.
 */
export async function userDataFor(
  inst: Instance,
  config: MdserverConfig,
  defaultPasswordHash: string | undefined,
  read: ReadOptional,
): Promise<Buffer | undefined> {
  if (inst.userData !== undefined) {
    if (inst.userData.length > MAX_RECORD_USER_DATA) {
      throw new AppError(
        "USER_DATA_TOO_LARGE",
        `${inst.source}:${inst.name}: user-data has ${inst.userData.length} bytes, more than ${MAX_RECORD_USER_DATA} (use a file in userdata-dir)`,
      );
    }
    return inst.userData;
  }
  const names = [inst.name, ...inst.macs.flatMap((m) => [m, m.replaceAll(":", "-")]), "default"];
  for (const name of names) {
    if (!SAFE_NAME.test(name)) continue;
    const bytes = await read(join(config.userdataDir, name));
    if (bytes !== undefined) return bytes;
  }
  if (!config.server["generate-user-data"]) return undefined;
  return Buffer.from(cloudConfigFor(inst, config, defaultPasswordHash));
}

export function cloudConfigFor(
  inst: Instance,
  config: MdserverConfig,
  defaultPasswordHash: string | undefined,
): string {
  const { hostname, fqdn } = namesFor(inst, config);
  // `local-hostname` is a meta-data key, never a cloud-config one: cloud-init 24+'s schema
  // rejects it ("Additional properties are not allowed"), which ends the boot "degraded".
  const cfg: Record<string, unknown> = {
    hostname,
    fqdn,
    manage_etc_hosts: true,
  };
  const keys = allKeys(inst, config).map((k) => k.key);
  if (keys.length) cfg.ssh_authorized_keys = keys;
  const hash = inst.passwordHash ?? defaultPasswordHash;
  if (hash) {
    // cloud-init applies `password` to the default user; a $6$ value is set as a hash.
    // chpasswd.expire defaults to true, which would force a change at first login.
    cfg.password = hash;
    cfg.chpasswd = { expire: false };
    cfg.ssh_pwauth = inst.sshPwauth ?? config.server["ssh-pwauth"];
  }
  if (config.server["phone-home"]) {
    // cloud-final posts this when boot is done: vmctl's "boot finished" and the host keys it pins.
    cfg.phone_home = {
      url: PHONE_HOME_URL,
      // Only keys every current image generates: a missing one is a cloud-init warning
      // (and "degraded" status from cloud-init 23.4 on).
      post: ["instance_id", "hostname", "fqdn", "pub_key_ed25519"],
      tries: 10,
    };
  }
  return `#cloud-config\n${yaml.dump(cfg, { lineWidth: -1 })}`;
}

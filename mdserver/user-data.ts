import { join } from "node:path";
import yaml from "js-yaml";
import type { Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { allKeys, namesFor } from "./ec2-tree.js";

/** Reads a file, or undefined when it does not exist. */
export type ReadOptional = (path: string) => Promise<string | undefined>;

export const PHONE_HOME_URL = "http://169.254.169.254/latest/phone-home";
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/**
 * user-data, first match wins:
 *  1. the instance's own user-data (vmctl --user-data, or the YAML file's user-data)
 *  2. <userdata-dir>/<domain name>
 *  3. <userdata-dir>/<mac> for each of its MACs (52:54:00:aa:bb:cc, or with dashes)
 *  4. <userdata-dir>/default
 *  5. a #cloud-config made from the instance record, unless generate-user-data = no
 * Files are served verbatim (cloud-config, script or multipart). undefined means 404.
 */
export async function userDataFor(
  inst: Instance,
  config: MdserverConfig,
  defaultPasswordHash: string | undefined,
  read: ReadOptional,
): Promise<string | undefined> {
  if (inst.userData !== undefined) return inst.userData;
  const names = [inst.name, ...inst.macs.flatMap((m) => [m, m.replaceAll(":", "-")]), "default"];
  for (const name of names) {
    if (!SAFE_NAME.test(name)) continue;
    const text = await read(join(config.userdataDir, name));
    if (text !== undefined) return text;
  }
  if (!config.server["generate-user-data"]) return undefined;
  return cloudConfigFor(inst, config, defaultPasswordHash);
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

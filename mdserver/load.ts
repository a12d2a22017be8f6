import { type FileHandle, open, readFile } from "node:fs/promises";
import { ConfigError } from "../lib/errors.js";
import type { Instance } from "../lib/instance.js";
import { type MdserverConfig, parseMdserverConfig } from "./config/mdserver-config.js";
import { parseInstancesYaml } from "./inventory/yaml-source.js";
import { MAX_USER_DATA_FILE } from "./user-data.js";

export interface Loaded {
  config: MdserverConfig;
  fileInstances: Instance[];
}

/**
 * Reads mdserver.conf and the instances file it names. Either everything loads or it throws a
 * ConfigError, so a reload can keep serving the old state. A missing file at the default path
 * means "all defaults"; a missing file the admin named is an error.
 */
export async function loadAll(path: string, explicit: boolean): Promise<Loaded> {
  const config = await loadConfig(path, explicit);
  const file = config.server["instances-file"];
  const fileInstances = file ? parseInstancesYaml(file, (await readText(file, false)) ?? "") : [];
  return { config, fileInstances };
}

/** mdserver.conf alone (what --status needs to find the admin socket). */
export async function loadConfig(path: string, explicit: boolean): Promise<MdserverConfig> {
  return parseMdserverConfig(path, (await readText(path, !explicit)) ?? "");
}

/**
 * Keys a running mdserver cannot take over on SIGHUP: the sockets, the boot-record directory and
 * the libvirt follower are built once at start. A reload that changes one is refused as a whole
 * (applying the rest would leave the admin believing the file is what runs).
 */
const RESTART_KEYS = [
  "listen",
  "ipv6",
  "port",
  "state-dir",
  "libvirt",
  "libvirt-uri",
  "reconcile-seconds",
  "admin-socket",
] as const;

/** Why `next` cannot replace `running` on a reload, in one line naming the key; else undefined. */
export function restartNeeded(running: MdserverConfig, next: MdserverConfig): string | undefined {
  for (const key of RESTART_KEYS) {
    const was = show(running.server[key]);
    const now = show(next.server[key]);
    if (was !== now) {
      return `${next.file}: [mdserver] ${key}: changed from ${was} to ${now}, which takes effect only at a restart (systemctl restart mdserver)`;
    }
  }
  return undefined;
}

function show(v: string | number | boolean | string[] | undefined): string {
  if (v === undefined) return "(unset)";
  return JSON.stringify(Array.isArray(v) ? v.join(", ") : String(v));
}

async function readText(path: string, missingOk: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && missingOk) return undefined;
    throw new ConfigError(`${path}: cannot read (${code ?? String(err)})`);
  }
}

/** A user-data file's bytes (never decoded: it may be gzip), refused past MAX_USER_DATA_FILE. */
export async function readOptional(path: string): Promise<Buffer | undefined> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
  try {
    const { size } = await file.stat();
    if (size > MAX_USER_DATA_FILE) {
      throw new ConfigError(
        `${path}: ${size} bytes; a user-data file may have at most ${MAX_USER_DATA_FILE}`,
      );
    }
    return await file.readFile();
  } finally {
    await file.close();
  }
}

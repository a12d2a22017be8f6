import { readFile } from "node:fs/promises";
import { ConfigError } from "../lib/errors.js";
import type { Instance } from "../lib/instance.js";
import { type MdserverConfig, parseMdserverConfig } from "./config/mdserver-config.js";
import { createContext, type ServeContext } from "./context.js";
import { parseInstancesYaml } from "./inventory/yaml-source.js";

export interface Loaded {
  context: ServeContext;
  fileInstances: Instance[];
}

/**
 * Reads mdserver.conf and the instances file it names. Either everything loads or it throws a
 * ConfigError, so a reload can keep serving the old state. A missing file at the default path
 * means "all defaults"; a missing file the admin named is an error.
 */
export async function loadAll(path: string, explicit: boolean): Promise<Loaded> {
  const text = await readText(path, !explicit);
  const config: MdserverConfig = parseMdserverConfig(path, text ?? "");
  const file = config.server["instances-file"];
  const fileInstances = file ? parseInstancesYaml(file, (await readText(file, false)) ?? "") : [];
  return { context: createContext(config), fileInstances };
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

export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

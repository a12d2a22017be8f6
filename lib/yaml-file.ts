import yaml from "js-yaml";
import type { z } from "zod";
import { ConfigError } from "./errors.js";

/** Parses a YAML file's text; a syntax error is one line (js-yaml's first) naming the file. */
export function loadYaml(file: string, text: string): unknown {
  try {
    return yaml.load(text);
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0] ?? "";
    throw new ConfigError(`${file}: not valid YAML: ${first}`);
  }
}

/** A zod issue's path as written in messages: `hosts[0].lan`. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join("");
}

/**
 * The first zod issue in the shape of every config message here: `hosts[0].lan: why`, an
 * unknown key as `router.color: unknown key` (plus `hint(path)`, e.g. the known keys), a
 * problem with the whole document as `top: why` (or just `why` without `top`).
 */
export function describeIssue(
  issue: z.core.$ZodIssue | undefined,
  opts: { top?: string; hint?: (path: string) => string } = {},
): string {
  if (!issue) return "invalid";
  const path = issuePath(issue.path);
  if (issue.code === "unrecognized_keys") {
    const hint = opts.hint?.(path);
    return `${path}${path ? "." : ""}${issue.keys[0]}: unknown key${hint ? ` (${hint})` : ""}`;
  }
  const where = path || opts.top;
  return where ? `${where}: ${issue.message}` : issue.message;
}

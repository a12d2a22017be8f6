import yaml from "js-yaml";
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

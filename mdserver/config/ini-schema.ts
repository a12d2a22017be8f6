import { ConfigError } from "../../lib/errors.js";
import type { IniEntry } from "./ini-read.js";

/** One key of an INI section: how to turn its string into a value, and its default. */
export interface KeySpec<T> {
  default: T;
  parse: (text: string) => T;
  /** Other spellings accepted for compatibility (e.g. the original mdserver's keys). */
  aliases?: string[];
}

export type SectionSpec = Record<string, KeySpec<unknown>>;
export type SectionValues<S extends SectionSpec> = { [K in keyof S]: S[K]["default"] };

/** Thrown by a KeySpec's parse: the reason only; the caller adds file, section and key. */
export class BadValue extends Error {}

export function parseSection<S extends SectionSpec>(
  file: string,
  section: string,
  raw: Map<string, IniEntry> | undefined,
  spec: S,
): SectionValues<S> {
  const out: Record<string, unknown> = {};
  const byName = new Map<string, string>();
  for (const [key, ks] of Object.entries(spec)) {
    out[key] = ks.default;
    byName.set(key, key);
    for (const alias of ks.aliases ?? []) byName.set(alias, key);
  }
  const given = new Map<string, { name: string; line: number }>();
  for (const [name, { value, line }] of raw ?? []) {
    const key = byName.get(name);
    const where = `${file}: [${section}] ${name}`;
    if (key === undefined) {
      throw new ConfigError(`${where}: unknown key (known: ${Object.keys(spec).join(", ")})`);
    }
    const first = given.get(key);
    if (first) {
      throw new ConfigError(
        `${file}: line ${line}: [${section}] ${name}: same key as ${first.name} on line ${first.line}; keep one`,
      );
    }
    given.set(key, { name, line });
    try {
      out[key] = (spec[key] as KeySpec<unknown>).parse(value);
    } catch (err) {
      if (err instanceof BadValue) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  }
  return out as SectionValues<S>;
}

export const str = (def: string): KeySpec<string> => ({ default: def, parse: (t) => t });

export const optionalStr = (): KeySpec<string | undefined> => ({
  default: undefined,
  parse: (t) => (t === "" ? undefined : t),
});

export const int = (def: number, min: number, max: number): KeySpec<number> => ({
  default: def,
  parse: (t) => {
    if (!/^\d+$/.test(t)) throw new BadValue(`"${t}" is not a whole number`);
    const n = Number(t);
    if (n < min || n > max) throw new BadValue(`${n} is outside ${min}..${max}`);
    return n;
  },
});

const TRUE = new Set(["yes", "true", "on", "1"]);
const FALSE = new Set(["no", "false", "off", "0"]);

export const bool = (def: boolean): KeySpec<boolean> => ({
  default: def,
  parse: (t) => {
    const v = t.toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw new BadValue(`"${t}" is not yes/no`);
  },
});

export const oneOf = <T extends string>(def: T, values: readonly T[]): KeySpec<T> => ({
  default: def,
  parse: (t) => {
    if ((values as readonly string[]).includes(t)) return t as T;
    throw new BadValue(`"${t}" is not one of ${values.join(", ")}`);
  },
});

export const list = (def: string[], check: (item: string) => string | undefined) => ({
  default: def,
  parse: (t: string): string[] => {
    const items = t
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    if (items.length === 0) throw new BadValue("needs at least one value");
    for (const item of items) {
      const why = check(item);
      if (why) throw new BadValue(why);
    }
    return items;
  },
});

import { ConfigError } from "../../lib/errors.js";

/** One `key = value` line: the value as written, and where, for error messages. */
export interface IniEntry {
  value: string;
  line: number;
}

export interface IniSection {
  line: number;
  entries: Map<string, IniEntry>;
}

const KEY = /^[A-Za-z0-9_.@-]+$/;

/**
 * Reads INI text line by line. Only whole lines are comments (first non-blank character `#` or
 * `;`): a value runs to the end of its line, so `password = abc;def#ghi` is all of it (the ini
 * package cut it at the `;`). One pair of double quotes around a value is removed, to keep
 * leading or trailing blanks. A key given twice in a section, or a section given twice, is an
 * error naming the file and the line: silently keeping the last one hides typos.
 */
export function readIni(file: string, text: string, known: readonly string[]) {
  const sections = new Map<string, IniSection>();
  let current: IniSection | undefined;
  let currentName = "";
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    const where = `${file}: line ${i + 1}`;
    if (t === "" || t.startsWith("#") || t.startsWith(";")) return;
    if (t.startsWith("[")) {
      const m = /^\[([^\]]*)\]$/.exec(t);
      if (!m) throw new ConfigError(`${where}: "${t}" is not a [section] header`);
      const name = m[1] as string;
      if (!known.includes(name)) {
        throw new ConfigError(`${where}: [${name}]: unknown section (known: ${known.join(", ")})`);
      }
      const seen = sections.get(name);
      if (seen) {
        throw new ConfigError(
          `${where}: [${name}]: section given twice (first on line ${seen.line}); merge them`,
        );
      }
      current = { line: i + 1, entries: new Map() };
      currentName = name;
      sections.set(name, current);
      return;
    }
    const eq = t.indexOf("=");
    if (eq <= 0) throw new ConfigError(`${where}: "${t}" is not "key = value"`);
    const key = t.slice(0, eq).trim();
    if (!KEY.test(key)) {
      throw new ConfigError(`${where}: "${key}" is not a key name (letters, digits, _.@-)`);
    }
    if (!current) {
      throw new ConfigError(
        `${where}: ${key}: every key must be inside a section (${known.map((k) => `[${k}]`).join(" or ")})`,
      );
    }
    const seen = current.entries.get(key);
    if (seen) {
      throw new ConfigError(
        `${where}: [${currentName}] ${key}: given twice (first on line ${seen.line}); keep one`,
      );
    }
    current.entries.set(key, { value: unquote(t.slice(eq + 1).trim()), line: i + 1 });
  });
  return sections;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

import { readFileSync } from "node:fs";
import { AppError } from "../../lib/errors.js";
import type { SshKey } from "../../lib/instance.js";
import { isSshPublicKey } from "../../lib/instance.js";

// Flag files are read here, on the command side: the VM layer receives their contents.

/** --ssh-key FILE...: each file's lines that are OpenSSH public keys. */
export function readSshKeys(files: string[]): SshKey[] {
  const keys: SshKey[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new AppError(
        "NOT_FOUND",
        `--ssh-key ${file}: cannot read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    const lines = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    if (lines.length === 0 || !lines.every(isSshPublicKey)) {
      throw new AppError(
        "INVALID",
        `--ssh-key ${file}: not an OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub)`,
      );
    }
    for (const key of lines) {
      const comment = key.split(" ")[2];
      // A key without a comment is named by its position among all keys given.
      keys.push({ name: comment?.replace(/[^A-Za-z0-9_.@-]/g, "_") || `key${keys.length}`, key });
    }
  }
  return keys;
}

export function readTextFile(flag: string, file: string): string {
  return readBytesFile(flag, file).toString("utf8");
}

/** A file's bytes, never decoded (user-data may be gzip). */
export function readBytesFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new AppError(
      "NOT_FOUND",
      `${flag} ${file}: cannot read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

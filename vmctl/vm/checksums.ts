import { AppError } from "../../lib/errors.js";
import type { Algorithm, Expected } from "./download.js";

const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };

/** `--sha256 HEX` / `--sha512 HEX`, checked before anything is downloaded. */
export function expectedFromFlag(algorithm: Algorithm, hex: string): Expected {
  const n = HEX_LENGTH[algorithm];
  if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex))
    throw new AppError("INVALID", `--${algorithm} ${hex}: not ${n} hex digits`);
  return { algorithm, hex: hex.toLowerCase() };
}

/**
 * The line for `fileName` in a SHA256SUMS/SHA512SUMS file (`HEX  NAME` or `HEX *NAME`, as
 * sha256sum writes; Debian, Ubuntu) or a BSD-style one (`SHA256 (NAME) = HEX`; Fedora's
 * CHECKSUM). The algorithm follows from the digest's length. PGP armour lines are skipped; the
 * signature itself is not checked.
 */
export function expectedFromSums(text: string, fileName: string, source: string): Expected {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const gnu = /^([0-9a-fA-F]+) [ *](.+)$/.exec(line);
    const bsd = /^SHA(256|512) \((.+)\) = ([0-9a-fA-F]+)$/.exec(line);
    const [hex, name] = gnu ? [gnu[1], gnu[2]] : bsd ? [bsd[3], bsd[2]] : [];
    if (!hex || !name || name.replace(/^\.\//, "") !== fileName) continue;
    const algorithm = hex.length === 128 ? "sha512" : hex.length === 64 ? "sha256" : undefined;
    if (!algorithm)
      throw new AppError(
        "CHECKSUM",
        `--checksums ${source}: the line for ${fileName} has no SHA-256 or SHA-512 digest`,
      );
    return { algorithm, hex: hex.toLowerCase() };
  }
  throw new AppError("CHECKSUM", `--checksums ${source}: no line for ${fileName}`);
}

/** The file name a checksums file lists a URL under: the last path segment. */
export function urlFileName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
}

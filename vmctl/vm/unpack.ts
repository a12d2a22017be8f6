import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { LONG_MS } from "./image-file.js";

/** What a download's first bytes say it is; names lie (Ubuntu's `.img` is a qcow2). */
export type Container = "xz" | "tar" | "disk" | "gzip" | "bzip2" | "zstd" | "zip";

export function containerOf(head: Buffer): Container {
  const starts = (...b: number[]) => b.every((x, i) => head[i] === x);
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (head.toString("latin1", 257, 262) === "ustar") return "tar";
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "zip";
  return "disk"; // qcow2 or raw: qemu-img info decides
}

export function readHead(file: string, bytes = 512): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * The disk image inside a verified download, unpacked in `work` (a private directory):
 * `.xz` through `xz -d` (to a file: the Runner would hold `xz -dc`'s output in memory),
 * a tar (also after xz) holding exactly one regular file through `tar -x`.
 */
export async function unpack(
  runner: Runner,
  file: string,
  work: string,
  label: string,
): Promise<string> {
  let current = file;
  for (let depth = 0; depth < 2; depth++) {
    const kind = containerOf(readHead(current));
    if (kind === "disk") return current;
    if (kind === "xz") {
      const xz = join(work, `unpacked-${depth}.xz`);
      await runner.run(cmd("mv", ["-f", "--", current, xz], true));
      await runner.run({ ...cmd("xz", ["-d", "-T0", "--", xz], true), timeoutMs: LONG_MS });
      current = xz.slice(0, -3);
    } else if (kind === "tar") {
      current = await untarOne(runner, current, work, label);
    } else {
      throw new AppError(
        "BAD_IMAGE",
        `${label}: is ${kind}-compressed; vmctl takes qcow2, raw, .xz and .tar.xz images`,
      );
    }
  }
  return current;
}

async function untarOne(runner: Runner, tar: string, work: string, label: string): Promise<string> {
  const list = await runner.run({ ...cmd("tar", ["-tvf", tar]), timeoutMs: LONG_MS });
  const entries = list.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => ({ type: l[0], name: /^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s(.*)$/.exec(l)?.[1] ?? "" }));
  const files = entries.filter((e) => e.type !== "d");
  const only = files[0];
  if (files.length !== 1 || only?.type !== "-") {
    const names = files
      .map((e) => e.name)
      .slice(0, 3)
      .join(", ");
    throw new AppError(
      "BAD_IMAGE",
      `${label}: the archive holds ${files.length} entries other than directories (${names}); vmctl takes an archive of one disk image`,
    );
  }
  if (only.name.startsWith("/") || only.name.split("/").includes(".."))
    throw new AppError("BAD_IMAGE", `${label}: the archive's file ${only.name} points outside it`);
  const dir = join(work, "tar");
  await runner.run(cmd("mkdir", ["-m", "0700", "--", dir], true));
  const x = ["-xf", tar, "-C", dir, "--no-same-owner", "--no-same-permissions", "--", only.name];
  await runner.run({ ...cmd("tar", x, true), timeoutMs: LONG_MS });
  await runner.run(cmd("rm", ["-f", "--", tar], true));
  return join(dir, only.name);
}

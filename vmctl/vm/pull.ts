import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { expectedFromSums, urlFileName } from "./checksums.js";
import { privateDir } from "./disk-access.js";
import { download, type Expected, removePart } from "./download.js";
import { checkUrl, fetchText } from "./http-get.js";
import { inspectImageFile } from "./image-file.js";
import { detectFirmware } from "./image-firmware.js";
import type { Image, ImageStore } from "./images.js";
import { unpack } from "./unpack.js";

export type Verify = { expected: Expected } | { checksums: string };

export interface PullRequest {
  name: string;
  url: string;
  verify: Verify;
  user?: string;
  progress(received: number, total: number | undefined): void;
  /** On a terminal: qemu-img convert with its progress bar. */
  visible?: (command: Command) => Promise<number>;
}

export interface PullPlan {
  part: string;
  expected: Expected;
}

/** The checks that need no download: name, URL, the digest to expect (a checksums file is read). */
export async function planPull(store: ImageStore, req: PullRequest): Promise<PullPlan> {
  store.checkNew(req.name);
  checkUrl("URL", req.url);
  let expected: Expected;
  if ("expected" in req.verify) expected = req.verify.expected;
  else {
    checkUrl("--checksums", req.verify.checksums);
    const sums = await fetchText(req.verify.checksums);
    expected = expectedFromSums(sums, urlFileName(req.url), req.verify.checksums);
  }
  return { part: join(store.dir, `.${req.name}.part`), expected };
}

/**
 * Download (resumable, verified), unpack by content, check like an import (no backing file),
 * convert into the cache. The partial file of a cut download stays for the next run; anything
 * else made here is removed whether the pull succeeds or fails.
 */
export async function pullImage(
  store: ImageStore,
  runner: Runner,
  req: PullRequest,
  plan: PullPlan,
): Promise<Image> {
  await runner.run(privateDir(store.dir));
  await download({
    url: req.url,
    part: plan.part,
    expected: plan.expected,
    progress: req.progress,
  });
  const work = join(store.dir, `.${req.name}.unpack`);
  try {
    await runner.run(cmd("rm", ["-rf", "--", work], true));
    await runner.run(cmd("mkdir", ["-m", "0700", "--", work], true));
    const disk = await unpack(runner, plan.part, work, req.url);
    const info = await inspectImageFile(runner, req.url, disk);
    // qemu-img calls anything it does not know "raw": a raw download must carry a partition
    // table (every vendor raw image does) to be taken for a disk.
    if (info.format === "raw" && (await detectFirmware(runner, disk, info)) === "none") {
      throw new AppError(
        "BAD_IMAGE",
        `${req.url}: not a disk image (neither qcow2 nor a raw disk with a partition table); vmctl takes qcow2, raw, .xz and .tar.xz images`,
      );
    }
    const digest = `${plan.expected.algorithm}:${plan.expected.hex}`;
    return await store.import(req.name, disk, req.user ? { user: req.user } : {}, req.visible, {
      digest,
      source: req.url,
    });
  } finally {
    removePart(plan.part);
    await runner.probe(cmd("rm", ["-rf", "--", work], true));
  }
}

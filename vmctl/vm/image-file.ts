import { resolve } from "node:path";
import { AppError, lastLine } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

/** What vmctl accepts as a disk image: formats whose file is the whole image. */
export type DiskFormat = "qcow2" | "raw";

/** Converting, decompressing or unpacking a multi-GiB image takes minutes on a busy host. */
export const LONG_MS = 60 * 60_000;

export interface ImageFileInfo {
  format: DiskFormat;
  virtualSize: number;
}

/**
 * `qemu-img info --output=json` of an image, refused unless it is a self-contained qcow2 or
 * raw file. qemu-img info opens only the header (never the backing file), so this runs before
 * anything reads the image's data: a qcow2 whose backing file is /etc/shadow would otherwise be
 * copied, bytes and all, into a base image every VM can read. Other formats are refused because
 * they too can name further files (a vmdk descriptor lists extents anywhere on the host).
 */
export async function inspectImageFile(
  runner: Runner,
  label: string,
  file: string,
): Promise<ImageFileInfo> {
  const r = await runner.probe(qemuImgInfo(file));
  if (r.exitCode !== 0) {
    throw new AppError(
      "BAD_IMAGE",
      `${label}: not a disk image qemu-img can read (${lastLine(r.stderr)})`,
    );
  }
  return checkImageInfo(label, r.stdout);
}

export function qemuImgInfo(file: string) {
  return cmd("qemu-img", ["info", "--output=json", "--", resolve(file)]);
}

/** Pure: the checks on qemu-img info's JSON. */
export function checkImageInfo(label: string, json: string): ImageFileInfo {
  const info = JSON.parse(json) as {
    format?: string;
    "virtual-size"?: number;
    "backing-filename"?: string;
    "full-backing-filename"?: string;
    "format-specific"?: { data?: { "data-file"?: string } };
  };
  const backing = info["backing-filename"] ?? info["full-backing-filename"];
  if (backing !== undefined) {
    throw new AppError(
      "BAD_IMAGE",
      `${label}: has a backing file (${backing}); vmctl takes only self-contained images (flatten it: qemu-img convert -O qcow2 IN OUT)`,
    );
  }
  const dataFile = info["format-specific"]?.data?.["data-file"];
  if (dataFile !== undefined) {
    throw new AppError(
      "BAD_IMAGE",
      `${label}: keeps its data in an external file (${dataFile}); vmctl takes only self-contained images (qemu-img convert -O qcow2 IN OUT)`,
    );
  }
  if (info.format !== "qcow2" && info.format !== "raw") {
    throw new AppError(
      "BAD_IMAGE",
      `${label}: format ${info.format ?? "unknown"} is not supported; give a qcow2 or raw image (qemu-img convert -O qcow2 IN OUT)`,
    );
  }
  return { format: info.format, virtualSize: info["virtual-size"] ?? 0 };
}

/**
 * The image as qemu should open it: its checked format, the file driver (an absolute path, so
 * no `proto:` prefix is ever read from a name) and, for qcow2, no backing file even if one was
 * written into the header after the check.
 */
export function qemuSource(file: string, format: DiskFormat): string {
  const spec = {
    driver: format,
    ...(format === "qcow2" ? { backing: null } : {}),
    file: { driver: "file", filename: resolve(file) },
  };
  return `json:${JSON.stringify(spec)}`;
}

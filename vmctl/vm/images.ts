import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { AppError } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { baseImageAccess, privateDir } from "./disk-access.js";
import { writeHostFile } from "./host-files.js";
import { inspectImageFile, LONG_MS, qemuSource } from "./image-file.js";
import { detectFirmware, type Firmware } from "./image-firmware.js";

/** A read-only base image in vmctl's cache, with optional direct-kernel-boot files. */
export interface Image {
  name: string;
  file: string;
  format: string;
  virtualSize: number;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** The login user cloud-init creates in this image (debian, ubuntu, fedora...). */
  user?: string;
  imported: string;
  /** Bytes of the cached file. */
  sizeBytes?: number;
  /** `sha256:HEX` or `sha512:HEX` of what was imported or downloaded (and verified). */
  digest?: string;
  firmware?: Firmware;
  /** The URL it was pulled from, or the file it was imported from. */
  source?: string;
}

export interface BootFiles {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  user?: string;
}

/** Where an image came from, when the caller knows more than a local path. */
export interface Provenance {
  digest: string;
  source: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkImageName(name: string): void {
  if (!NAME.test(name))
    throw new AppError("INVALID", `image name "${name}": use letters, digits, _.- (max 63)`);
}

/**
 * The image cache: <state-dir>/images/NAME.qcow2 (+ NAME.kernel, NAME.initrd) and NAME.json.
 * VM disks are qcow2 overlays with the cached file as backing file, so the cache must be
 * readable by the qemu user and visible at the same path on the hosts (shared or local storage).
 * Every change goes through the Runner: with --dry-run it is a DryRunRunner and prints them.
 */
export class ImageStore {
  readonly dir: string;
  constructor(
    stateDir: string,
    private readonly runner: Runner,
    private readonly dryRun = false,
  ) {
    this.dir = join(stateDir, "images");
  }

  list(): Image[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(this.dir, f), "utf8")) as Image)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): Image | undefined {
    const file = join(this.dir, `${name}.json`);
    return NAME.test(name) && existsSync(file)
      ? (JSON.parse(readFileSync(file, "utf8")) as Image)
      : undefined;
  }

  /** A cached image by name, or a file path used in place (checked like an import). */
  async resolve(nameOrPath: string): Promise<Image> {
    const cached = this.get(nameOrPath);
    if (cached) return cached;
    if (nameOrPath.includes("/") && existsSync(nameOrPath)) {
      const info = await inspectImageFile(this.runner, nameOrPath, nameOrPath);
      const firmware = await detectFirmware(this.runner, nameOrPath, info);
      return {
        name: basename(nameOrPath),
        file: resolve(nameOrPath),
        ...info,
        firmware,
        imported: "",
      };
    }
    throw new AppError(
      "NOT_FOUND",
      `no image ${nameOrPath} (see: vmctl image list; or give a path)`,
    );
  }

  /** Refuses a name in use before anything is downloaded or read. */
  checkNew(name: string): void {
    checkImageName(name);
    if (this.get(name))
      throw new AppError("EXISTS", `image ${name} exists (vmctl image delete ${name} first)`);
  }

  async import(
    name: string,
    file: string,
    boot: BootFiles,
    /** On a terminal: runs qemu-img with its progress bar on the terminal. */
    visible?: (command: Command) => Promise<number>,
    provenance?: Provenance,
  ): Promise<Image> {
    this.checkNew(name);
    for (const [flag, path] of Object.entries({
      FILE: file,
      "--kernel": boot.kernel,
      "--initrd": boot.initrd,
    })) {
      if (path !== undefined && !existsSync(path))
        throw new AppError("NOT_FOUND", `${flag} ${path}: no such file`);
    }
    if (boot.initrd && !boot.kernel) throw new AppError("INVALID", "--initrd needs --kernel");
    // Checked before any byte of the image is read (a backing file would be followed).
    const info = await inspectImageFile(this.runner, file, file);
    const firmware = await detectFirmware(this.runner, file, info);
    const base = join(this.dir, `${name}.qcow2`);
    const partial = join(this.dir, `.${name}.qcow2.part`);
    const made: string[] = [];
    try {
      await this.runner.run(privateDir(this.dir));
      const src = qemuSource(file, info.format);
      const args = ["convert", ...(visible ? ["-p"] : []), "-O", "qcow2", "--", src, partial];
      made.push(partial);
      const convert = { ...cmd("qemu-img", args, true), timeoutMs: LONG_MS };
      if (!visible || this.dryRun) await this.runner.run(convert);
      else if ((await visible(convert)) !== 0) {
        throw new AppError("IMPORT", `qemu-img convert of ${file} failed (see its message above)`);
      }
      const image: Image = {
        name,
        file: base,
        format: "qcow2",
        virtualSize: info.virtualSize,
        imported: new Date().toISOString(),
        digest: provenance?.digest ?? (this.dryRun ? "-" : `sha256:${await sha256File(file)}`),
        firmware,
        source: provenance?.source ?? resolve(file),
      };
      const files = [base];
      for (const part of ["kernel", "initrd"] as const) {
        const from = boot[part];
        if (!from) continue;
        const dest = join(this.dir, `${name}.${part}`);
        made.push(dest);
        files.push(dest);
        await this.runner.run(cmd("cp", ["--", from, dest], true));
        image[part] = dest;
      }
      if (boot.cmdline) image.cmdline = boot.cmdline;
      if (boot.user) image.user = boot.user;
      made.push(base);
      await this.runner.run(cmd("mv", ["-f", "--", partial, base], true));
      for (const c of baseImageAccess(files)) await this.runner.run(c);
      if (!this.dryRun) image.sizeBytes = statSync(base).size;
      await writeHostFile(
        this.runner,
        this.recordPath(name),
        `${JSON.stringify(image, null, 2)}\n`,
      );
      return image;
    } catch (err) {
      await this.runner.probe(cmd("rm", ["-f", "--", ...made], true));
      throw err;
    }
  }

  async delete(name: string): Promise<boolean> {
    const image = this.get(name);
    if (!image) return false;
    const files = [image.file, image.kernel, image.initrd, this.recordPath(name)];
    const present = files.filter((f): f is string => f !== undefined);
    await this.runner.run(cmd("rm", ["-f", "--", ...present], true));
    return true;
  }

  private recordPath(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

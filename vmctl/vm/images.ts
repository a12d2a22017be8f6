import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { AppError, lastLine } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

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
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * The image cache: <state-dir>/images/NAME.qcow2 (+ NAME.kernel, NAME.initrd) and NAME.json.
 * VM disks are qcow2 overlays with the cached file as backing file, so the cache must be
 * readable by the qemu user and visible at the same path on the hosts (shared or local storage).
 */
export class ImageStore {
  readonly dir: string;
  constructor(
    stateDir: string,
    private readonly runner: Runner,
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

  /** A cached image by name, or a file path used in place (checked with qemu-img). */
  async resolve(nameOrPath: string): Promise<Image> {
    const cached = this.get(nameOrPath);
    if (cached) return cached;
    if (nameOrPath.includes("/") && existsSync(nameOrPath)) {
      const info = await this.info(nameOrPath);
      return { name: basename(nameOrPath), file: resolve(nameOrPath), ...info, imported: "" };
    }
    throw new AppError(
      "NOT_FOUND",
      `no image ${nameOrPath} (see: vmctl image list; or give a path)`,
    );
  }

  async info(file: string): Promise<{ format: string; virtualSize: number }> {
    const r = await this.runner.probe(cmd("qemu-img", ["info", "--output=json", "--", file]));
    if (r.exitCode !== 0) {
      throw new AppError(
        "BAD_IMAGE",
        `${file}: not a disk image qemu-img can read (${lastLine(r.stderr)})`,
      );
    }
    const j = JSON.parse(r.stdout) as { format: string; "virtual-size": number };
    return { format: j.format, virtualSize: j["virtual-size"] };
  }

  async import(
    name: string,
    file: string,
    boot: { kernel?: string; initrd?: string; cmdline?: string; user?: string },
    /** On a terminal: runs qemu-img with its progress bar on the terminal. */
    visible?: (command: Command) => Promise<number>,
  ): Promise<Image> {
    if (!NAME.test(name))
      throw new AppError("INVALID", `image name "${name}": use letters, digits, _.- (max 63)`);
    if (this.get(name))
      throw new AppError("EXISTS", `image ${name} exists (vmctl image delete ${name} first)`);
    for (const [flag, path] of Object.entries({
      FILE: file,
      "--kernel": boot.kernel,
      "--initrd": boot.initrd,
    })) {
      if (path !== undefined && !existsSync(path))
        throw new AppError("NOT_FOUND", `${flag} ${path}: no such file`);
    }
    if (boot.initrd && !boot.kernel) throw new AppError("INVALID", "--initrd needs --kernel");
    const { format } = await this.info(file);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const base = join(this.dir, `${name}.qcow2`);
    const made: string[] = [];
    try {
      const args = [
        "convert",
        ...(visible ? ["-p"] : []),
        "-f",
        format,
        "-O",
        "qcow2",
        "--",
        file,
        base,
      ];
      made.push(base);
      const convert = cmd("qemu-img", args, true);
      if (!visible) await this.runner.run(convert);
      else if ((await visible(convert)) !== 0) {
        throw new AppError("IMPORT", `qemu-img convert of ${file} failed (see its message above)`);
      }
      const image: Image = {
        name,
        file: base,
        format: "qcow2",
        virtualSize: (await this.info(base)).virtualSize,
        imported: new Date().toISOString(),
      };
      for (const part of ["kernel", "initrd"] as const) {
        const src = boot[part];
        if (!src) continue;
        const dest = join(this.dir, `${name}.${part}`);
        made.push(dest);
        await this.runner.run(cmd("cp", ["--", src, dest], true));
        image[part] = dest;
      }
      if (boot.cmdline) image.cmdline = boot.cmdline;
      if (boot.user) image.user = boot.user;
      await this.runner.run(cmd("chmod", ["0644", ...made], true));
      writeFileSync(join(this.dir, `${name}.json`), `${JSON.stringify(image, null, 2)}\n`);
      return image;
    } catch (err) {
      for (const f of made) rmSync(f, { force: true });
      throw err;
    }
  }

  delete(name: string): boolean {
    const image = this.get(name);
    if (!image) return false;
    for (const f of [image.file, image.kernel, image.initrd, join(this.dir, `${name}.json`)]) {
      if (f) rmSync(f, { force: true });
    }
    return true;
  }
}

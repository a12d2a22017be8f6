import { readFileSync } from "node:fs";
import { AppError } from "../../lib/errors.js";
import { cmd, LOCAL } from "../../lib/exec/command.js";
import { DryRunRunner } from "../../lib/exec/runner.js";
import type { SshKey } from "../../lib/instance.js";
import { isSshPublicKey } from "../../lib/instance.js";
import { type CliDeps, fabricContext, type GlobalOptions } from "../context.js";
import { virtTypeFor } from "../libvirt/virt-type.js";
import type { VmContext } from "./create.js";
import { ImageStore } from "./images.js";

/** What VM commands need, built from the CLI's deps and global options. */
export function vmContext(deps: CliDeps, g: GlobalOptions): VmContext {
  const fabric = fabricContext(deps, g);
  return {
    fabric: { ...fabric, onCommand: g.verbose ? (l) => deps.stderr(l) : () => {} },
    virsh: fabric.runnerFor(LOCAL),
    progress: (line) => deps.stderr(line),
    // KVM only where the host's CPU really has it (docs/libvirt.md: /dev/kvm alone proves nothing).
    virtType: async (host) => {
      const run = fabric.runnerFor(host.target);
      const cpuinfo = await run.probe(cmd("cat", ["/proc/cpuinfo"]));
      const kvm = await run.probe(cmd("test", ["-c", "/dev/kvm"]));
      return virtTypeFor(cpuinfo.stdout, kvm.exitCode === 0);
    },
  };
}

/** With --dry-run the store's changes (all Runner commands) are printed instead of run. */
export function imageStore(deps: CliDeps, g: GlobalOptions): ImageStore {
  const real = deps.runnerFor(LOCAL);
  const dry = g.dryRun === true;
  return new ImageStore(g.stateDir, dry ? new DryRunRunner(real, deps.stdout) : real, dry);
}

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
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new AppError(
      "NOT_FOUND",
      `${flag} ${file}: cannot read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

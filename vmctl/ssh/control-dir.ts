import { lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import type { SshOptions } from "../../lib/exec/command.js";
import { writeVirshSsh } from "./virsh-ssh.js";

/** What the composition root reads from the environment for ssh targets (docs/ssh-targets.md). */
export interface SshEnv {
  /** VMCTL_SSH_CONFIG: an ssh_config file used instead of ~/.ssh/config. */
  config?: string | undefined;
  /** VMCTL_SSH_CONTROL_DIR: where masters wait; `none` turns connection reuse off. */
  controlDir?: string | undefined;
  /** XDG_RUNTIME_DIR, the default's parent when set. */
  runtimeDir?: string | undefined;
  uid: number;
}

/** The default: a per-user directory, in the runtime dir if there is one. */
export function defaultControlDir(env: SshEnv): string {
  return env.runtimeDir
    ? join(env.runtimeDir, "vmctl-ssh")
    : join(tmpdir(), `vmctl-ssh-${env.uid}`);
}

/** The ssh options for this run; `prepare` makes the control dir when the first ssh runs. */
export function sshOptionsFrom(env: SshEnv): { options: SshOptions; prepare(): void } {
  const config = env.config ? { config: env.config } : {};
  if (env.controlDir === "none") return { options: config, prepare: () => {} };
  const controlDir = env.controlDir || defaultControlDir(env);
  const options = { ...config, controlDir };
  let ready = false;
  return {
    options,
    prepare: () => {
      if (ready) return;
      ensureControlDir(controlDir, env.uid);
      writeVirshSsh(controlDir, options);
      ready = true;
    },
  };
}

/**
 * The control dir holds sockets that run commands as root on every host without a key: only
 * its owner may enter it. One that exists must be a real directory of ours with mode 0700 (in
 * /tmp, someone else could have made it first and would see, or replace, our sockets).
 */
export function ensureControlDir(dir: string, uid: number): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new AppError(
        "SSH_CONTROL_DIR",
        `ssh control dir ${dir}: cannot create it (${code}); set VMCTL_SSH_CONTROL_DIR to a directory of yours, or none`,
      );
    }
  }
  const st = lstatSync(dir);
  const why = !st.isDirectory()
    ? "is not a directory"
    : st.uid !== uid
      ? `belongs to uid ${st.uid}, not to you`
      : (st.mode & 0o077) !== 0
        ? `has mode ${(st.mode & 0o777).toString(8)}, not 700`
        : undefined;
  if (why)
    throw new AppError(
      "SSH_CONTROL_DIR",
      `ssh control dir ${dir} ${why}: remove it, or set VMCTL_SSH_CONTROL_DIR to a private directory (mode 0700)`,
    );
}

import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, quote, type SshOptions, sshOptionArgs } from "../../lib/exec/command.js";
import type { Held, Runner, RunResult } from "../../lib/exec/runner.js";

/**
 * libvirt's ssh transport (`qemu+ssh://`) starts `ssh` itself, without vmctl's options. Its URI
 * parameter `command=` names the program it runs instead (with `-l USER -T -e none -- HOST sh
 * -c '...'`, as captured in docs/ssh-targets.md): a two-line script in the control dir that
 * runs ssh with vmctl's options lets virsh use the same config, known_hosts and masters.
 */
export function virshSshScript(ssh: SshOptions): string {
  return `#!/bin/sh\nexec ssh ${sshOptionArgs(ssh).map(quote).join(" ")} "$@"\n`;
}

export const virshSshPath = (controlDir: string) => join(controlDir, "virsh-ssh");

/** Written each run: it follows this run's options (VMCTL_SSH_CONFIG may have changed). */
export function writeVirshSsh(controlDir: string, ssh: SshOptions): void {
  const file = virshSshPath(controlDir);
  writeFileSync(file, virshSshScript(ssh), { mode: 0o700 });
  chmodSync(file, 0o700);
}

export const isSshUri = (uri: string) => /^[a-z0-9]+\+ssh:\/\//i.test(uri);

/** An ssh-transport libvirt URI with `command=` added, unless it names its own. */
export function withSshCommand(uri: string, program: string): string {
  if (!isSshUri(uri)) return uri;
  const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
  if (query.split("&").some((p) => p.startsWith("command="))) return uri;
  return `${uri}${uri.includes("?") ? "&" : "?"}command=${program}`;
}

/** `virsh -c URI ...` with the URI through `rewrite`; every other command as it is. */
export function virshUriCommand(command: Command, rewrite: (uri: string) => string): Command {
  const uri = command.args[1];
  if (command.file !== "virsh" || command.args[0] !== "-c" || uri === undefined) return command;
  return { ...command, args: ["-c", rewrite(uri), ...command.args.slice(2)] };
}

/** The local Runner, with virsh's qemu+ssh connections going through vmctl's ssh. */
export class VirshSshRunner implements Runner {
  constructor(
    private readonly inner: Runner,
    private readonly rewrite: (uri: string) => string,
  ) {}

  get target() {
    return this.inner.target;
  }

  run(command: Command): Promise<RunResult> {
    return this.inner.run(virshUriCommand(command, this.rewrite));
  }

  probe(command: Command): Promise<RunResult> {
    return this.inner.probe(virshUriCommand(command, this.rewrite));
  }

  hold(command: Command): Promise<Held> {
    return this.inner.hold(virshUriCommand(command, this.rewrite));
  }
}

import { AppError } from "../../lib/errors.js";
import { cmd, LOCAL, type Target } from "../../lib/exec/command.js";
import { isLocalUri } from "../../lib/virsh.js";
import type { CliDeps } from "../context.js";
import type { HostSpec } from "../net/cluster.js";
import type { Parent } from "../program.js";
import { readHostFile } from "../vm/host-files.js";
import { knownHostsPath } from "../vm/known-hosts.js";
import { checkLoginUser, checkVmName, isLoginUser } from "../vm/names.js";
import { findVm, onDomain } from "../vm/vms.js";
import { vmContext } from "./vm-deps.js";

/**
 * Where `virsh console` runs: where the host's libvirt URI means that host. vmctl runs virsh on
 * this machine with the host's URI (qemu+ssh://…, or a socket a netns host's libvirtd listens
 * on); an ssh: host whose URI has no host part (qemu:///system) means the libvirtd over there,
 * so the console runs on the host through its ssh target, with a terminal (`ssh -t`).
 */
export function consoleTarget(host: HostSpec): Target {
  return host.target.kind === "ssh" && isLocalUri(host.libvirt) ? host.target : LOCAL;
}

export function registerVmAccess(program: Parent, deps: CliDeps): void {
  program
    .command("console")
    .description("attach to a VM's serial console (Ctrl+] leaves)")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const ctx = vmContext(deps, self.optsWithGlobals());
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
      if (!deps.interactive) throw new AppError("NO_TTY", "console needs a terminal");
      const code = await deps.interactive(
        consoleTarget(vm.host),
        onDomain(vm.host, "console", name),
      );
      if (code !== 0) throw new AppError("CONSOLE", `virsh console ${name} exited ${code}`);
    });

  program
    .command("ssh")
    .description("ssh into a VM as its login user, checking the host key pinned at first boot")
    .argument("<name>")
    .argument("[command...]", "command to run (after --)")
    .option("-l, --user <user>", "login user (default: the VM's image user)")
    .option("-i, --identity <file>", "private key file")
    .action(async (name, command, o, self) => {
      if (o.user !== undefined) checkLoginUser("--user", o.user);
      checkVmName(name);
      const ctx = vmContext(deps, self.optsWithGlobals());
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
      const user = o.user ?? vm.instance.loginUser ?? "root";
      if (!isLoginUser(user))
        throw new AppError(
          "INVALID",
          `${name}: the login user in its domain metadata (${user}) is not a user name; give one with -l USER`,
        );
      const ip = vm.instance.addresses[0];
      const known = knownHostsPath(vm.host, name);
      const run = ctx.fabric.runnerFor(vm.host.target);
      if (!ip || (await readHostFile(run, known)) === undefined) {
        throw new AppError(
          "NO_HOST_KEY",
          `${name}: no pinned host key yet (the VM has not finished its first boot)`,
        );
      }
      // Never StrictHostKeyChecking=no: the key the guest reported at first boot must match.
      const args = [
        "-o",
        `UserKnownHostsFile=${known}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        ...(o.identity ? ["-i", o.identity, "-o", "IdentitiesOnly=yes"] : []),
        // Options end before the destination: neither it nor the command is read as one.
        "--",
        `${user}@${ip}`,
        ...command,
      ];
      // From the VM's host, which reaches it on its bridge.
      const ssh = cmd("ssh", args);
      if (deps.interactive) {
        const code = await deps.interactive(vm.host.target, ssh);
        if (code !== 0) throw new AppError("SSH", `ssh ${user}@${ip} exited ${code}`);
        return;
      }
      const r = await run.run(ssh);
      deps.stdout(r.stdout.trimEnd());
    });
}

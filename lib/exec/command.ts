/** A command is data: never a shell string. */
export interface Command {
  file: string;
  args: string[];
  /** true when running it changes the target's state (dry-run prints these instead). */
  mutates: boolean;
  /** Text fed to the command's stdin (for `ip -batch -`, `ipset restore`, ...). */
  input?: string;
  /** Overrides the Runner's time limit (a multi-GiB image conversion takes minutes). */
  timeoutMs?: number;
}

/** Where a command runs: this machine, inside a network namespace, or over ssh. */
export type Target =
  | { kind: "local" }
  | { kind: "netns"; name: string }
  | { kind: "ssh"; destination: string };

export const LOCAL: Target = { kind: "local" };

export function cmd(file: string, args: string[], mutates = false, input?: string): Command {
  return input === undefined ? { file, args, mutates } : { file, args, mutates, input };
}

/** Parses `local`, `netns:NAME` or `ssh:user@host`. */
export function parseTarget(text: string): Target | undefined {
  if (text === "local") return LOCAL;
  const [kind, ...rest] = text.split(":");
  const value = rest.join(":");
  if (!value) return undefined;
  if (kind === "netns" && /^[A-Za-z0-9_.-]+$/.test(value)) return { kind: "netns", name: value };
  if (kind === "ssh" && /^[A-Za-z0-9_.@:[\]-]+$/.test(value))
    return { kind: "ssh", destination: value };
  return undefined;
}

export function formatTarget(target: Target): string {
  if (target.kind === "local") return "local";
  return target.kind === "netns" ? `netns:${target.name}` : `ssh:${target.destination}`;
}

const SAFE = /^[A-Za-z0-9_./:=@%+,-]+$/;

export function quote(arg: string): string {
  return SAFE.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * How vmctl's ssh runs (docs/ssh-targets.md): `config` is an ssh_config file used instead of
 * ~/.ssh/config (`-F`); `controlDir` a private directory (0700) where one master connection per
 * target waits (`ControlPath=DIR/%C`), kept `persistSeconds` after its last use so the next
 * command, or the next vmctl run, skips the handshake. Without `controlDir` every command is
 * its own connection.
 */
export interface SshOptions {
  config?: string;
  controlDir?: string;
  persistSeconds?: number;
}

/** Seconds a master outlives its last command: a script of vmctl calls shares one handshake. */
export const DEFAULT_PERSIST_SECONDS = 60;

/** ssh's options and destination, before the remote command. */
export function sshArgs(destination: string, ssh: SshOptions = {}): string[] {
  return [...sshOptionArgs(ssh), destination];
}

/** ssh's options: the one place they are spelled (vmctl's runners and virsh's qemu+ssh). */
export function sshOptionArgs(ssh: SshOptions = {}): string[] {
  const o = (option: string) => ["-o", option];
  return [
    ...(ssh.config ? ["-F", ssh.config] : []),
    // Never a prompt: a missing key or an unknown host key fails at once with a message.
    ...o("BatchMode=yes"),
    ...o("ConnectTimeout=5"),
    // A master whose host went away notices within 15 s instead of TCP's minutes.
    ...o("ServerAliveInterval=5"),
    ...o("ServerAliveCountMax=3"),
    ...(ssh.controlDir
      ? [
          ...o("ControlMaster=auto"),
          // %C is a hash of host, port, user and local host: short (unix socket paths have
          // 108 bytes, and ssh appends a temporary suffix while it binds) and one per target.
          ...o(`ControlPath=${ssh.controlDir}/%C`),
          ...o(`ControlPersist=${ssh.persistSeconds ?? DEFAULT_PERSIST_SECONDS}`),
        ]
      : []),
  ];
}

/** The argv that actually runs a command on a target (ssh gets one quoted string). */
export function wrapForTarget(
  target: Target,
  command: Command,
  ssh?: SshOptions,
): { file: string; args: string[] } {
  const env = ["env", "LC_ALL=C"];
  if (target.kind === "local") return { file: command.file, args: command.args };
  if (target.kind === "netns")
    return { file: "ip", args: ["netns", "exec", target.name, command.file, ...command.args] };
  const remote = [...env, command.file, ...command.args].map(quote).join(" ");
  return { file: "ssh", args: [...sshArgs(target.destination, ssh), "--", remote] };
}

/**
 * wrapForTarget for a program that takes over the terminal (vmctl console, vmctl ssh): over ssh
 * the far side gets a terminal too (`-t`), or a shell there would run without one.
 */
export function wrapInteractive(
  target: Target,
  command: Command,
  ssh?: SshOptions,
): { file: string; args: string[] } {
  const w = wrapForTarget(target, command, ssh);
  return target.kind === "ssh" ? { file: w.file, args: ["-t", ...w.args] } : w;
}

export function formatCommand(command: Command): string {
  return [command.file, ...command.args].map(quote).join(" ");
}

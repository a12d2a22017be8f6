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

/** The argv that actually runs a command on a target (ssh gets one quoted string). */
export function wrapForTarget(target: Target, command: Command): { file: string; args: string[] } {
  const env = ["env", "LC_ALL=C"];
  if (target.kind === "local") return { file: command.file, args: command.args };
  if (target.kind === "netns")
    return { file: "ip", args: ["netns", "exec", target.name, command.file, ...command.args] };
  const remote = [...env, command.file, ...command.args].map(quote).join(" ");
  return {
    file: "ssh",
    args: ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", target.destination, "--", remote],
  };
}

export function formatCommand(command: Command): string {
  return [command.file, ...command.args].map(quote).join(" ");
}

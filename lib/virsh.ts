import { type Command, cmd } from "./exec/command.js";

/** Arguments that select a libvirt connection: none means virsh's own default URI. */
export function virshConnect(uri: string | undefined): string[] {
  return uri ? ["-c", uri] : [];
}

/** `virsh -c URI -q ARGS`: quiet, so list and dumpxml print no headers or blank footers. */
export function virshCommand(
  uri: string | undefined,
  args: string[],
  mutates = false,
  input?: string,
): Command {
  return cmd("virsh", [...virshConnect(uri), "-q", ...args], mutates, input);
}

/** The documents of one batched `dumpxml A; dumpxml B` (virsh prints them back to back). */
export function splitDomainXml(stdout: string): string[] {
  return stdout
    .split(/(?<=<\/domain>)/)
    .map((doc) => doc.trim())
    .filter((doc) => doc.startsWith("<domain"));
}

/** A URI with no host part (qemu:///system) is the libvirtd of the machine virsh runs on. */
export function isLocalUri(uri: string): boolean {
  return /^[a-z0-9+]+:\/\/\//.test(uri) || !uri.includes("://");
}

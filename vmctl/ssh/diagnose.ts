import { lastLine } from "../../lib/errors.js";

/**
 * What to tell the admin when ssh to a target fails (exit 255), from OpenSSH's own message:
 * the host is down or not listening, it refuses the key, or its host key is not known (or
 * changed). One line: what is wrong and what to do. docs/ssh-targets.md sets a host up.
 */
export function diagnoseSsh(machine: string, destination: string, stderr: string): string {
  const where = `${machine} (ssh:${destination})`;
  const host = destination.replace(/^[^@]*@/, "");
  const said = lastLine(stderr.replaceAll("\r", ""));
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr))
    return `${where}: its host key changed (${said}); if the host was reinstalled, check the new key and replace the old one: ssh-keygen -R ${host}`;
  if (/Host key verification failed|No \S+ host key is known/.test(stderr))
    return `${where}: its host key is not known (${said}); check it and add it to known_hosts: ssh-keyscan ${host} >> ~/.ssh/known_hosts (docs/ssh-targets.md)`;
  if (/Permission denied/.test(stderr))
    return `${where} refused the key (${said}); add your public key to ${destination.includes("@") ? destination.split("@")[0] : "the user"}'s authorized_keys there, e.g. ssh-copy-id ${destination}`;
  if (/Could not resolve hostname/.test(stderr))
    return `${where}: ${said}; fix the target in the cluster file`;
  if (
    /Connection refused|timed out|No route to host|Network is unreachable|Connection closed|Connection reset/.test(
      stderr,
    )
  )
    return `${where} cannot be reached (${said}); is the host up and sshd running? Nothing was changed`;
  return `${where} cannot be reached over ssh${said ? ` (${said})` : ""}`;
}

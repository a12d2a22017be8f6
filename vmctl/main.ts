#!/usr/bin/env node
import { readFileSync } from "node:fs";
import type { Command, Target } from "../lib/exec/command.js";
import { ExecRunner, type Runner, runInteractive, TracingRunner } from "../lib/exec/runner.js";
import { run } from "./cli.js";
import { sshOptionsFrom } from "./ssh/control-dir.js";
import {
  isSshUri,
  VirshSshRunner,
  virshSshPath,
  virshUriCommand,
  withSshCommand,
} from "./ssh/virsh-ssh.js";

// Composition root: the only place that reads argv/env and sets the exit code.
const ssh = sshOptionsFrom({
  config: process.env.VMCTL_SSH_CONFIG,
  controlDir: process.env.VMCTL_SSH_CONTROL_DIR,
  runtimeDir: process.env.XDG_RUNTIME_DIR,
  uid: process.getuid?.() ?? 0,
});
/** virsh's qemu+ssh:// through vmctl's ssh options and masters (docs/ssh-targets.md). */
function virshUri(uri: string): string {
  const dir = ssh.options.controlDir;
  if (!isSshUri(uri) || !dir) return uri;
  ssh.prepare();
  return withSshCommand(uri, virshSshPath(dir));
}
const runners = new Map<string, Runner>();
function runnerFor(target: Target): Runner {
  const key = JSON.stringify(target);
  let r = runners.get(key);
  if (!r) {
    if (target.kind === "ssh") ssh.prepare();
    r = new ExecRunner(target, { ssh: ssh.options });
    if (target.kind === "local") r = new VirshSshRunner(r, virshUri);
    if (process.env.VMCTL_TRACE) r = new TracingRunner(r, (l) => process.stderr.write(`${l}\n`));
    runners.set(key, r);
  }
  return r;
}

/**
 * A sink for one output stream. When its reader goes away (`vmctl net show | head`), the rest of
 * the output is dropped quietly: the command still finishes (a change is never left half-made
 * because nobody reads), and the exit code is its own.
 */
function sink(stream: NodeJS.WriteStream): (line: string) => void {
  let open = true;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
    open = false;
  });
  return (line) => {
    if (open && !stream.destroyed) stream.write(`${line}\n`);
  };
}

const code = await run(process.argv.slice(2), {
  stdout: sink(process.stdout),
  stderr: sink(process.stderr),
  clusterPath: process.env.VMCTL_CLUSTER ?? "/etc/vmctl/cluster.yaml",
  stateDir: "/var/lib/vmctl",
  readFile: (path) => readFileSync(path, "utf8"),
  runnerFor,
  interactive: (target: Target, command: Command) => {
    if (target.kind === "ssh") ssh.prepare();
    return runInteractive(target, virshUriCommand(command, virshUri), ssh.options);
  },
  isTty: process.stderr.isTTY === true && process.stdout.isTTY === true,
  statusLine: (text) => process.stderr.write(`\r\x1b[K${text}`),
});
process.exitCode = code;

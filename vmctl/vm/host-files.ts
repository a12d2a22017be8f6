import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

/** Files on a host, through its Runner (local, netns or ssh): the same code for every target. */
export async function readHostFile(runner: Runner, path: string): Promise<string | undefined> {
  const r = await runner.probe(cmd("cat", ["--", path]));
  return r.exitCode === 0 ? r.stdout : undefined;
}

export async function writeHostFile(runner: Runner, path: string, text: string): Promise<void> {
  // Written beside the target and renamed over it: readers never see half a file. The temp
  // name is unique, so two writers never write into one temp file.
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const write = cmd("dd", ["status=none", `of=${tmp}`], true, text);
  if ((await runner.probe(write)).exitCode !== 0) {
    // Usually the directory is there: make it only when the write says it is missing.
    await runner.run(cmd("mkdir", ["-p", "--", dirname(path)], true));
    await runner.run(write);
  }
  try {
    await runner.run(cmd("mv", ["-f", "--", tmp, path], true));
  } catch (err) {
    await runner.probe(cmd("rm", ["-f", "--", tmp], true));
    throw err;
  }
}

export async function removeHostFile(runner: Runner, path: string): Promise<void> {
  await runner.run(cmd("rm", ["-f", "--", path], true));
}

/** `/proc/PID/stat`'s command name and state letter ("Z": exited, not yet reaped). */
export function parseProcStat(text: string): { comm: string; state: string } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  return { comm: text.slice(open + 1, close), state: text.slice(close + 2, close + 3) };
}

/**
 * Whether `pid` runs `comm` on the host. A zombie does not count: it has closed every file and
 * socket, and waits only for its parent (or init, for a daemon) to reap it. The name guards
 * against a stale pid file (after a reboot) naming some other process.
 */
export async function isRunning(runner: Runner, pid: number, comm: string): Promise<boolean> {
  const r = await runner.probe(cmd("cat", ["--", `/proc/${pid}/stat`]));
  const stat = r.exitCode === 0 ? parseProcStat(r.stdout) : undefined;
  return stat !== undefined && stat.comm === comm && stat.state !== "Z";
}

/** The PID in a pid file if that process runs `comm`, else undefined. */
export async function livePid(
  runner: Runner,
  pidFile: string,
  comm: string,
): Promise<number | undefined> {
  const text = await readHostFile(runner, pidFile);
  const pid = Number(text?.trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return (await isRunning(runner, pid, comm)) ? pid : undefined;
}

import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { readHostFile } from "../vm/host-files.js";
import type { BirdPaths } from "./bird-config.js";
import type { Item, Step } from "./plan-items.js";

export const BIRD_TOOLS = ["bird"];

export interface BirdPlan {
  items: Item[];
  steps: Step[];
  /** `diff -u` of the config on the machine and the wanted one; empty when they are equal. */
  diff: string;
}

export interface BirdOptions {
  /**
   * Start with -R (graceful restart recovery): BIRD then keeps the kernel routes a previous
   * BIRD left (`persist`) until its peers have re-sent theirs, instead of flushing them.
   */
  recover: boolean;
  /** --dry-run: no file steps (the diff stands for them), only the reload or start. */
  dryRun: boolean;
}

function birdc(paths: BirdPaths, ...args: string[]): Command {
  return cmd("birdc", ["-s", paths.socket, ...args], args[0] !== "show");
}

function startCommand(paths: BirdPaths, recover: boolean): Command {
  const args = ["-c", paths.config, "-s", paths.socket, "-P", paths.pid];
  return cmd("bird", recover ? [...args, "-R"] : args, true);
}

/** `diff -u` of the file on the machine (or nothing) against the text it should hold. */
async function fileDiff(runner: Runner, path: string, current: string | undefined, text: string) {
  const from = current === undefined ? "/dev/null" : path;
  const args = ["-u", "--label", path, "--label", `${path} (vmctl)`, from, "-"];
  return (await runner.probe(cmd("diff", args, false, text))).stdout;
}

/**
 * Plans BIRD on one machine: write its config when it differs (checked by `bird -p` before it
 * replaces the old one), then `birdc configure` if BIRD runs, or start it if not; nothing when
 * both are as wanted.
 */
export async function planBird(
  runner: Runner,
  paths: BirdPaths,
  text: string,
  opts: BirdOptions,
): Promise<BirdPlan> {
  const [current, status] = await Promise.all([
    readHostFile(runner, paths.config),
    runner.probe(birdc(paths, "show", "status")),
  ]);
  const running = status.exitCode === 0;
  const changed = current !== text;
  const tmp = `${paths.config}.tmp`;
  const write: Step[] = [
    ...(current === undefined ? [{ command: cmd("mkdir", ["-p", "--", paths.dir], true) }] : []),
    {
      command: cmd("dd", ["status=none", `of=${tmp}`], true, text),
      undo: cmd("rm", ["-f", "--", tmp], true),
    },
    // Not /dev/stdin: the Runner's stdin is a socket, which BIRD cannot open as a file.
    { command: cmd("bird", ["-p", "-c", tmp]) },
    {
      // Renamed over the old file: BIRD never reads half a config.
      command: cmd("mv", ["-f", "--", tmp, paths.config], true),
      undo:
        current === undefined
          ? cmd("rm", ["-f", "--", paths.config], true)
          : cmd("dd", ["status=none", `of=${paths.config}`], true, current),
    },
  ];
  const reload = running ? birdc(paths, "configure") : startCommand(paths, opts.recover);
  const steps: Step[] = [
    ...(changed && !opts.dryRun ? write : []),
    ...(changed || !running ? [{ command: reload }] : []),
  ];
  const diff = changed && opts.dryRun ? await fileDiff(runner, paths.config, current, text) : "";
  const items: Item[] = [
    {
      network: undefined,
      what: `BIRD config ${paths.config}`,
      present: !changed,
      command: write[write.length - 1]?.command ?? reload,
    },
    {
      network: undefined,
      what: `BIRD running (socket ${paths.socket})`,
      present: running,
      command: startCommand(paths, opts.recover),
    },
  ];
  return { items, steps, diff };
}

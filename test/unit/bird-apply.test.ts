import { describe, expect, it } from "vitest";
import { type Command, formatCommand } from "../../lib/exec/command.js";
import type { RunResult } from "../../lib/exec/runner.js";
import { planBird } from "../../vmctl/net/bird-apply.js";
import { birdPaths } from "../../vmctl/net/bird-config.js";
import { RecordingRunner } from "../helpers/recording-runner.js";

const paths = birdPaths("/var/lib/vmctl");
const WANTED = "router id 198.18.0.11;\n";

/** A machine with BIRD's config file (or none) and BIRD running or not. */
function machine(file: string | undefined, running: boolean) {
  return new RecordingRunner(
    { kind: "netns", name: "h1" },
    (c: Command): Partial<RunResult> | undefined => {
      if (c.file === "cat") return file === undefined ? { exitCode: 1 } : { stdout: file };
      if (c.file === "birdc" && c.args.includes("show")) return { exitCode: running ? 0 : 1 };
      if (c.file === "diff") return { exitCode: 1, stdout: "--- a\n+++ b\n-old\n+new\n" };
      return undefined;
    },
    "cat of the config, birdc show status, diff",
  );
}

const lines = (steps: { command: Command }[]) => steps.map((s) => formatCommand(s.command));
const live = { recover: true, dryRun: false };

describe("BIRD apply plan", () => {
  it("writes the config and starts BIRD with recovery on a machine without it", async () => {
    const p = await planBird(machine(undefined, false), paths, WANTED, live);
    expect(lines(p.steps)).toEqual([
      "mkdir -p -- /var/lib/vmctl/bird",
      "dd status=none of=/var/lib/vmctl/bird/bird.conf.tmp",
      "bird -p -c /var/lib/vmctl/bird/bird.conf.tmp",
      "mv -f -- /var/lib/vmctl/bird/bird.conf.tmp /var/lib/vmctl/bird/bird.conf",
      "bird -c /var/lib/vmctl/bird/bird.conf -s /var/lib/vmctl/bird/bird.ctl -P /var/lib/vmctl/bird/bird.pid -R",
    ]);
    expect(p.steps[1]?.command.input).toBe(WANTED);
    // A failed start puts the machine back: no config file left behind.
    const undo = p.steps[3]?.undo;
    expect(undo && formatCommand(undo)).toBe("rm -f -- /var/lib/vmctl/bird/bird.conf");
  });

  it("does nothing when the config is as wanted and BIRD runs", async () => {
    const p = await planBird(machine(WANTED, true), paths, WANTED, live);
    expect(p.steps).toEqual([]);
    expect(p.items.every((i) => i.present)).toBe(true);
  });

  it("rewrites a changed config and reloads the running BIRD, restoring the old file on failure", async () => {
    const p = await planBird(machine("old\n", true), paths, WANTED, live);
    expect(lines(p.steps).slice(2)).toEqual([
      "mv -f -- /var/lib/vmctl/bird/bird.conf.tmp /var/lib/vmctl/bird/bird.conf",
      "birdc -s /var/lib/vmctl/bird/bird.ctl configure",
    ]);
    expect(p.steps[2]?.undo?.input).toBe("old\n");
  });

  it("starts a stopped BIRD without recovery when told so, config untouched", async () => {
    const p = await planBird(machine(WANTED, false), paths, WANTED, {
      recover: false,
      dryRun: false,
    });
    expect(lines(p.steps)).toEqual([
      "bird -c /var/lib/vmctl/bird/bird.conf -s /var/lib/vmctl/bird/bird.ctl -P /var/lib/vmctl/bird/bird.pid",
    ]);
  });

  it("--dry-run: the diff instead of the file steps, and the reload", async () => {
    const runner = machine("old\n", true);
    const p = await planBird(runner, paths, WANTED, { recover: true, dryRun: true });
    expect(p.diff).toBe("--- a\n+++ b\n-old\n+new\n");
    expect(lines(p.steps)).toEqual(["birdc -s /var/lib/vmctl/bird/bird.ctl configure"]);
    expect(runner.commands.filter((c) => c.mutates)).toEqual([]);
    const diff = runner.commands.find((c) => c.file === "diff");
    expect(diff?.input).toBe(WANTED);
    expect(diff?.args.slice(-2)).toEqual(["/var/lib/vmctl/bird/bird.conf", "-"]);
  });

  it("checks the new file with bird -p before it replaces the old one", async () => {
    const p = await planBird(machine("old\n", true), paths, WANTED, live);
    expect(lines(p.steps)).toEqual([
      "dd status=none of=/var/lib/vmctl/bird/bird.conf.tmp",
      "bird -p -c /var/lib/vmctl/bird/bird.conf.tmp",
      "mv -f -- /var/lib/vmctl/bird/bird.conf.tmp /var/lib/vmctl/bird/bird.conf",
      "birdc -s /var/lib/vmctl/bird/bird.ctl configure",
    ]);
  });
});

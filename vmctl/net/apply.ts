import { AppError, errorMessage } from "../../lib/errors.js";
import { type Command, cmd, formatCommand } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Step } from "./plan-items.js";

/** Consecutive `ip` commands go to one `ip -batch -`: 1,000 routes in one process, not 1,000. */
function batchable(c: Command): boolean {
  return c.file === "ip" && c.mutates && c.input === undefined && c.args[0] !== "-batch";
}

function groups(plan: Step[]): Step[][] {
  const out: Step[][] = [];
  for (const step of plan) {
    const last = out[out.length - 1];
    const first = last?.[0];
    if (last && first && batchable(first.command) && batchable(step.command)) last.push(step);
    else out.push([step]);
  }
  return out;
}

function batchCommand(steps: Step[]): Command {
  return cmd(
    "ip",
    ["-batch", "-"],
    true,
    `${steps.map((s) => s.command.args.join(" ")).join("\n")}\n`,
  );
}

/** `ip -batch` stops at the first failing line and reports it as `Command failed -:N`. */
function failedLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/**
 * Runs the steps in order. If one fails, the undo commands of the steps already run are run
 * in reverse (best effort) so the machine is not left half-configured, then the error is thrown.
 */
export async function applySteps(
  runner: Runner,
  machine: string,
  plan: Step[],
  onCommand: (line: string) => void = () => {},
): Promise<Step[]> {
  const done: Step[] = [];
  for (const group of groups(plan)) {
    const single = group.length === 1 ? group[0] : undefined;
    const command = single ? single.command : batchCommand(group);
    const r = await runner.probe(command).catch((e: unknown) => ({
      exitCode: -1,
      stdout: "",
      stderr: errorMessage(e),
    }));
    if (r.exitCode === 0) {
      for (const s of group) onCommand(formatCommand(s.command));
      done.push(...group);
      continue;
    }
    // In a batch, the lines before the failing one did take effect.
    const line = single ? 1 : (failedLine(r.stderr) ?? 1);
    done.push(...group.slice(0, line - 1));
    const failed = group[line - 1]?.command ?? command;
    const why = r.stderr
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("Command failed"))
      .pop();
    const message = `${formatCommand(failed)} failed${r.exitCode > 0 ? ` (exit ${r.exitCode})` : ""}${why ? `: ${why}` : ""}`;
    const undoFailed = await rollback(runner, done);
    const rolled = undoFailed
      ? `; rollback incomplete (${undoFailed} undo commands failed)`
      : done.length
        ? `; rolled back ${done.length} earlier commands`
        : "";
    throw new AppError("APPLY", `${machine}: ${message}${rolled}`, r.stderr);
  }
  return done;
}

/** Undoes applied steps in reverse, best effort; returns how many undo commands failed. */
export async function rollback(runner: Runner, applied: Step[]): Promise<number> {
  let failed = 0;
  for (const step of [...applied].reverse()) {
    if (!step.undo) continue;
    const r = await runner.probe(step.undo).catch(() => ({ exitCode: 1 }));
    if (r.exitCode !== 0) failed++;
  }
  return failed;
}

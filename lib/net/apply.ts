import { AppError, errorMessage } from "../errors.js";
import { formatCommand } from "../exec/command.js";
import type { Runner } from "../exec/runner.js";
import type { Step } from "./plan-items.js";

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
  for (const step of plan) {
    try {
      await runner.run(step.command);
      onCommand(formatCommand(step.command));
      done.push(step);
    } catch (err) {
      const failures: string[] = [];
      for (const prev of [...done].reverse()) {
        if (!prev.undo) continue;
        const r = await runner.probe(prev.undo).catch((e: unknown) => ({
          exitCode: 1,
          stderr: errorMessage(e),
        }));
        if (r.exitCode !== 0) failures.push(formatCommand(prev.undo));
      }
      const rolled = failures.length
        ? `; rollback incomplete (${failures.length} undo commands failed)`
        : done.length
          ? `; rolled back ${done.length} earlier commands`
          : "";
      throw new AppError(
        "APPLY",
        `${machine}: ${errorMessage(err)}${rolled}`,
        err instanceof AppError ? err.detail : undefined,
      );
    }
  }
  return done;
}

/** Undoes steps a successful applySteps returned (when a later machine fails). */
export async function rollback(runner: Runner, applied: Step[]): Promise<number> {
  let failed = 0;
  for (const step of [...applied].reverse()) {
    if (!step.undo) continue;
    const r = await runner.probe(step.undo).catch(() => ({ exitCode: 1 }));
    if (r.exitCode !== 0) failed++;
  }
  return failed;
}

import { onTestFinished } from "vitest";
import { CommandError } from "../../lib/errors.js";
import { type Command, formatCommand, formatTarget, type Target } from "../../lib/exec/command.js";
import type { Held, Runner, RunResult } from "../../lib/exec/runner.js";

/** A scripted machine's answer to one command; undefined: this test does not expect it. */
export type Answer = (command: Command) => Partial<RunResult> | undefined;

/**
 * For unit tests of planners and commands: records every command and answers from a script.
 * It fails closed: a command the script does not expect throws (listing what the test expects)
 * and fails the test at its end even if the code under test swallowed the error.
 */
export class RecordingRunner implements Runner {
  readonly commands: Command[] = [];
  private readonly unexpected: string[] = [];

  constructor(
    readonly target: Target,
    private readonly answer: Answer,
    /** What the script answers, for the message of an unexpected command. */
    private readonly expects: string,
  ) {
    onTestFinished(() => {
      if (this.unexpected.length > 0) throw new Error(this.unexpected.join("\n"));
    });
  }

  async run(command: Command): Promise<RunResult> {
    const r = await this.probe(command);
    if (r.exitCode !== 0) throw new CommandError(formatCommand(command), r.exitCode, r.stderr);
    return r;
  }

  /** Recorded like any command: held when the script answers exit 0. */
  async hold(command: Command): Promise<Held> {
    await this.run(command);
    return { release: () => Promise.resolve() };
  }

  probe(command: Command): Promise<RunResult> {
    this.commands.push(command);
    const a = this.answer(command);
    if (a === undefined) {
      const why = `unexpected command on ${formatTarget(this.target)}: ${formatCommand(command)} (this test expects ${this.expects})`;
      this.unexpected.push(why);
      return Promise.reject(new Error(why));
    }
    return Promise.resolve({ stdout: "", stderr: "", exitCode: 0, ...a });
  }
}

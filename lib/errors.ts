/** One base error with a stable code; the message is the one line a user sees. */
export class AppError extends Error {
  readonly code: string;
  readonly detail: string | undefined;
  constructor(code: string, message: string, detail?: string) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.detail = detail;
  }
}

export class ConfigError extends AppError {
  constructor(message: string, detail?: string) {
    super("CONFIG", message, detail);
  }
}

/** A subprocess failed: carries the command line, exit code and stderr. */
export class CommandError extends AppError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(command: string, exitCode: number | undefined, stderr: string) {
    const last = lastLine(stderr);
    super(
      "COMMAND",
      `${command} failed${exitCode === undefined ? "" : ` (exit ${exitCode})`}${last ? `: ${last}` : ""}`,
      stderr,
    );
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** A tool's last stderr line is usually the one that says what went wrong. */
export function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

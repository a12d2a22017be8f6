import { execa } from "execa";
import { CommandError } from "../errors.js";
import {
  type Command,
  cmd,
  formatCommand,
  formatTarget,
  type SshOptions,
  type Target,
  wrapForTarget,
  wrapInteractive,
} from "./command.js";

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** The one boundary for every external command. */
export interface Runner {
  readonly target: Target;
  /** Runs the command; throws CommandError on a non-zero exit. */
  run(command: Command): Promise<RunResult>;
  /** Runs the command; a non-zero exit is returned, not thrown (for probes like `iptables -C`). */
  probe(command: Command): Promise<RunResult>;
  /**
   * Starts a command that takes something (a lock) and keeps it until its stdin closes, e.g.
   * `flock FILE cat`: resolves once the command echoes a line written to its stdin (cat only
   * starts once flock has the lock); `release` closes stdin and waits for it to exit.
   */
  hold(command: Command): Promise<Held>;
}

export interface Held {
  release(): Promise<void>;
}

const NOTHING_HELD: Held = { release: () => Promise.resolve() };

export interface ExecRunnerOptions {
  timeoutMs?: number;
  /** For ssh targets: the config file and the connection reuse (lib/exec/command.ts). */
  ssh?: SshOptions;
}

/** The only place that imports execa. */
export class ExecRunner implements Runner {
  private readonly timeoutMs: number;
  private readonly ssh: SshOptions;
  /** With a control dir: the first connection, which every other command waits for. */
  private master: Promise<unknown> | undefined;

  constructor(
    readonly target: Target,
    options: ExecRunnerOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.ssh = options.ssh ?? {};
  }

  async run(command: Command): Promise<RunResult> {
    const result = await this.probe(command);
    if (result.exitCode !== 0) {
      throw new CommandError(this.describe(command), result.exitCode, result.stderr);
    }
    return result;
  }

  async probe(command: Command): Promise<RunResult> {
    await this.connected();
    return this.execute(command);
  }

  /**
   * With connection reuse, commands started side by side before any master exists would each
   * open a connection of their own (ssh only shares one once its socket is there): one `true`
   * goes first and leaves the master, the rest ride on it. A failure shows in the command.
   */
  private async connected(): Promise<void> {
    if (this.target.kind !== "ssh" || !this.ssh.controlDir) return;
    this.master ??= this.execute(cmd("true", [])).catch(() => undefined);
    await this.master;
  }

  private async execute(command: Command): Promise<RunResult> {
    const { file, args } = wrapForTarget(this.target, command, this.ssh);
    try {
      const r = await execa(file, args, {
        reject: false,
        env: { LC_ALL: "C" },
        timeout: command.timeoutMs ?? this.timeoutMs,
        stripFinalNewline: false,
        ...(command.input === undefined ? { stdin: "ignore" } : { input: command.input }),
      });
      if (r.failed && r.exitCode === undefined) {
        // Not started (ENOENT) or killed by the timeout: no exit code to return.
        throw new CommandError(this.describe(command), undefined, r.shortMessage ?? "");
      }
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(this.describe(command), undefined, String(err));
    }
  }

  async hold(command: Command): Promise<Held> {
    await this.connected();
    const { file, args } = wrapForTarget(this.target, command, this.ssh);
    const child = execa(file, args, { reject: false, env: { LC_ALL: "C" }, buffer: false });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    // A holder that exits at once closes its stdin: that shows as its exit, not as EPIPE here.
    child.stdin?.on("error", () => {});
    child.stdin?.write("held\n");
    let timer: NodeJS.Timeout | undefined;
    const held = await new Promise<boolean>((resolve) => {
      child.stdout?.setEncoding("utf8").on("data", (c: string) => {
        if (c.includes("\n")) resolve(true);
      });
      void child.then(() => resolve(false));
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    });
    clearTimeout(timer);
    if (!held) {
      child.kill("SIGTERM");
      const r = await child;
      const why = r.exitCode === undefined ? `not held after ${this.timeoutMs} ms` : stderr;
      throw new CommandError(this.describe(command), r.exitCode, why);
    }
    return {
      release: async () => {
        child.stdin?.end();
        await child;
      },
    };
  }

  private describe(command: Command): string {
    const where = this.target.kind === "local" ? "" : ` on ${formatTarget(this.target)}`;
    return `${formatCommand(command)}${where}`;
  }
}

/** --dry-run: reads run for real, mutating commands are printed instead of run. */
export class DryRunRunner implements Runner {
  constructor(
    private readonly inner: Runner,
    private readonly print: (line: string) => void,
  ) {}

  get target(): Target {
    return this.inner.target;
  }

  run(command: Command): Promise<RunResult> {
    if (!command.mutates) return this.inner.run(command);
    this.print(this.line(command));
    return Promise.resolve({ stdout: "", stderr: "", exitCode: 0 });
  }

  probe(command: Command): Promise<RunResult> {
    return command.mutates ? this.run(command) : this.inner.probe(command);
  }

  hold(command: Command): Promise<Held> {
    if (!command.mutates) return this.inner.hold(command);
    this.print(this.line(command));
    return Promise.resolve(NOTHING_HELD);
  }

  private line(command: Command): string {
    const prefix = this.target.kind === "local" ? "" : `[${formatTarget(this.target)}] `;
    const stdin = command.input === undefined ? "" : ` <<'EOF'\n${command.input.trimEnd()}\nEOF`;
    return `${prefix}${formatCommand(command)}${stdin}`;
  }
}

/** VMCTL_TRACE=1: every command with its target and duration on stderr (where the time goes). */
export class TracingRunner implements Runner {
  constructor(
    private readonly inner: Runner,
    private readonly print: (line: string) => void,
  ) {}

  get target(): Target {
    return this.inner.target;
  }

  run(command: Command): Promise<RunResult> {
    return this.time(command, () => this.inner.run(command));
  }

  probe(command: Command): Promise<RunResult> {
    return this.time(command, () => this.inner.probe(command));
  }

  /** The time it took to get hold of it (waiting for a lock shows here). */
  async hold(command: Command): Promise<Held> {
    let held: Held = NOTHING_HELD;
    await this.time(command, async () => {
      held = await this.inner.hold(command);
      return { stdout: "", stderr: "", exitCode: 0 };
    });
    return held;
  }

  private async time(command: Command, f: () => Promise<RunResult>): Promise<RunResult> {
    const start = performance.now();
    try {
      return await f();
    } finally {
      const ms = (performance.now() - start).toFixed(1);
      this.print(`trace: ${ms} ms [${formatTarget(this.target)}] ${formatCommand(command)}`);
    }
  }
}

/** A long-running command whose stdout is read line by line (e.g. `virsh event --loop`). */
export interface LineStream {
  /** Resolves with the exit code (or undefined if killed) when the process ends. */
  done: Promise<number | undefined>;
  stop(): void;
}

export function streamLines(
  target: Target,
  command: Command,
  onLine: (line: string) => void,
  ssh?: SshOptions,
): LineStream {
  const { file, args } = wrapForTarget(target, command, ssh);
  const child = execa(file, args, {
    reject: false,
    env: { LC_ALL: "C" },
    stdin: "ignore",
    buffer: false,
  });
  let rest = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  return {
    done: child.then((r) => r.exitCode),
    stop: () => {
      child.kill("SIGTERM");
    },
  };
}

/** Runs a command with the terminal attached (vmctl console, vmctl ssh); resolves its exit code. */
export async function runInteractive(
  target: Target,
  command: Command,
  ssh?: SshOptions,
): Promise<number> {
  const { file, args } = wrapInteractive(target, command, ssh);
  const r = await execa(file, args, { reject: false, stdio: "inherit" });
  return r.exitCode ?? 1;
}

import { ConfigError } from "../lib/errors.js";
import type { Command, Target } from "../lib/exec/command.js";
import { DryRunRunner, type Runner } from "../lib/exec/runner.js";
import { type Cluster, parseCluster } from "./net/cluster.js";
import type { FabricContext } from "./net/fabric.js";
import { DryRunStore, NetworkStore } from "./net/network-store.js";
import type { GlobalOptions } from "./program.js";

/** What the composition root hands the CLI: I/O sinks, defaults and adapters. */
export interface CliDeps {
  stdout(line: string): void;
  stderr(line: string): void;
  /** --cluster default (main.ts: VMCTL_CLUSTER or /etc/vmctl/cluster.yaml). */
  clusterPath: string;
  /** --state-dir default (/var/lib/vmctl). */
  stateDir: string;
  readFile(path: string): string;
  runnerFor(target: Target): Runner;
  /** Runs a command with the terminal attached (console, ssh); resolves its exit code. */
  interactive?(target: Target, command: Command): Promise<number>;
  /** true when stderr is a terminal: progress output only then. */
  isTty?: boolean;
  /** On a terminal: redraws stderr's last line (a progress bar), no newline. */
  statusLine?(text: string): void;
}

export type { GlobalOptions } from "./program.js";

/** The network store; with --dry-run one that never writes. */
export function openStore(opts: GlobalOptions): NetworkStore {
  return opts.dryRun ? new DryRunStore(opts.stateDir) : new NetworkStore(opts.stateDir);
}

export function loadCluster(deps: CliDeps, path: string): Cluster {
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot read cluster file ${path} (${code}); use --cluster PATH`);
  }
  return parseCluster(text, path);
}

/** A fabric context; with --dry-run every mutating command is printed instead of run. */
export function fabricContext(deps: CliDeps, opts: GlobalOptions): FabricContext {
  const dry = opts.dryRun === true;
  return {
    cluster: loadCluster(deps, opts.cluster),
    store: openStore(opts),
    runnerFor: (target) => {
      const real = deps.runnerFor(target);
      return dry ? new DryRunRunner(real, deps.stdout) : real;
    },
    onCommand: dry ? () => {} : deps.stdout,
    ...(dry ? { showDiff: (text: string) => deps.stdout(text.trimEnd()) } : {}),
  };
}

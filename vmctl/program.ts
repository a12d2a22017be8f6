import { Command, type InferCommandArguments } from "@commander-js/extra-typings";
import type { CliDeps } from "./context.js";

/** vmctl's root command and its global options: the one declaration of those flags. */
export function rootCommand(deps: CliDeps) {
  return (
    new Command("vmctl")
      .description("VMs and their networks on standalone libvirt hosts")
      .option("--cluster <path>", "cluster description", deps.clusterPath)
      .option("--state-dir <dir>", "where the network store lives", deps.stateDir)
      .option("--dry-run", "print the commands that would change machines, change nothing")
      .option("--json", "machine-readable output")
      .option("--verbose", "show error details")
      // Subcommands inherit this (commander copies it to each command made after it).
      .exitOverride()
      .configureOutput({
        writeOut: (s) => deps.stdout(s.trimEnd()),
        writeErr: (s) => deps.stderr(s.trimEnd()),
      })
  );
}

export type Program = ReturnType<typeof rootCommand>;
export type GlobalOptions = ReturnType<Program["opts"]>;

/**
 * What a command file registers its commands on: the root or a group such as `net`. Every
 * command made on it has vmctl's global options, typed, in `cmd.optsWithGlobals()`.
 */
export interface Parent {
  command<Usage extends string>(
    nameAndArgs: Usage,
  ): Command<[...InferCommandArguments<Usage>], Record<never, never>, GlobalOptions>;
}

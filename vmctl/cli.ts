import { Command, CommanderError } from "commander";
import { AppError, errorMessage } from "../lib/errors.js";
import { registerHostApply } from "./commands/host-apply.js";
import { registerImage } from "./commands/image.js";
import { registerNetCreate } from "./commands/net-create.js";
import { registerNetDelete } from "./commands/net-delete.js";
import { registerNetList } from "./commands/net-list.js";
import { registerNetShow } from "./commands/net-show.js";
import { registerPort } from "./commands/port.js";
import { registerRouterApply } from "./commands/router-apply.js";
import { registerVmAccess } from "./commands/vm-access.js";
import { registerVmCreate } from "./commands/vm-create.js";
import { registerVmList } from "./commands/vm-list.js";
import { registerVmPower } from "./commands/vm-power.js";
import type { CliDeps, GlobalOptions } from "./context.js";

export type { CliDeps } from "./context.js";

function buildProgram(deps: CliDeps): Command {
  const program = new Command("vmctl")
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
    });
  const globals = () => program.opts<GlobalOptions>();
  const net = program.command("net").description("virtual networks");
  registerNetCreate(net, deps, globals);
  registerNetList(net, deps, globals);
  registerNetShow(net, deps, globals);
  registerNetDelete(net, deps, globals);
  registerHostApply(program.command("host").description("hosts"), deps, globals);
  registerRouterApply(program.command("router").description("the router"), deps, globals);
  registerPort(program, deps, globals);
  registerImage(program, deps, globals);
  registerVmCreate(program, deps, globals);
  registerVmList(program, deps, globals);
  registerVmPower(program, deps, globals);
  registerVmAccess(program, deps, globals);
  return program;
}

/** Runs vmctl with argv (without node and script); returns the exit code, never exits. */
export async function run(argv: string[], deps: CliDeps): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed the usage message
      return err.exitCode === 0 ? 0 : 2;
    }
    deps.stderr(`vmctl: ${errorMessage(err)}`);
    if (program.opts<GlobalOptions>().verbose) {
      if (err instanceof AppError && err.detail) deps.stderr(err.detail.trimEnd());
      else if (!(err instanceof AppError) && err instanceof Error && err.stack)
        deps.stderr(err.stack);
    }
    return 1;
  }
}

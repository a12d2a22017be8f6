import { CommanderError } from "@commander-js/extra-typings";
import { AppError, errorMessage } from "../lib/errors.js";
import { registerCompletion } from "./commands/completion.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerFw } from "./commands/fw.js";
import { registerHostApply } from "./commands/host-apply.js";
import { registerImage } from "./commands/image.js";
import { registerIpg } from "./commands/ipg.js";
import { registerHostList, registerRouterList } from "./commands/machine-list.js";
import { checkModes } from "./commands/modes.js";
import { registerNetCreate } from "./commands/net-create.js";
import { registerNetDelete } from "./commands/net-delete.js";
import { registerNetList } from "./commands/net-list.js";
import { registerNetShow } from "./commands/net-show.js";
import { registerNetUpdate } from "./commands/net-update.js";
import { registerPort } from "./commands/port.js";
import { registerRouterApply } from "./commands/router-apply.js";
import { registerRoutes } from "./commands/routes.js";
import { registerSg } from "./commands/sg.js";
import { registerTopology } from "./commands/topology.js";
import { registerVmAccess } from "./commands/vm-access.js";
import { registerVmCreate } from "./commands/vm-create.js";
import { registerVmDisk } from "./commands/vm-disk.js";
import { registerVmList } from "./commands/vm-list.js";
import { registerVmPower } from "./commands/vm-power.js";
import type { CliDeps } from "./context.js";
import { type Program, rootCommand } from "./program.js";

export type { CliDeps } from "./context.js";

/** The whole command tree (exported for the test that every command declares its modes). */
export function buildProgram(deps: CliDeps): Program {
  const program = rootCommand(deps);
  // Each command's --dry-run/--json support is declared once (modes.ts), checked here.
  program.hook("preAction", (_, action) => checkModes(action, program.opts()));
  const net = program.command("net").description("virtual networks");
  registerNetCreate(net, deps);
  registerNetList(net, deps);
  registerNetShow(net, deps);
  registerNetUpdate(net, deps);
  registerNetDelete(net, deps);
  const host = program.command("host").description("hosts");
  registerHostApply(host, deps);
  registerHostList(host, deps);
  const router = program.command("router").description("the router");
  registerRouterApply(router, deps);
  registerRouterList(router, deps);
  registerFw(program, deps);
  registerPort(program, deps);
  registerRoutes(program, deps);
  registerIpg(program, deps);
  registerTopology(program, deps);
  registerDoctor(program, deps);
  registerSg(program, deps);
  registerImage(program, deps);
  registerVmCreate(program, deps);
  registerVmList(program, deps);
  registerVmPower(program, deps);
  registerVmAccess(program, deps);
  registerVmDisk(program, deps);
  // Last: it reads the whole tree when it runs.
  registerCompletion(program, deps);
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
    if (program.opts().verbose) {
      if (err instanceof AppError && err.detail) deps.stderr(err.detail.trimEnd());
      else if (!(err instanceof AppError) && err instanceof Error && err.stack)
        deps.stderr(err.stack);
    }
    return 1;
  }
}

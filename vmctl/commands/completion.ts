import { Argument } from "@commander-js/extra-typings";
import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { bashCompletion, type CommandTree, zshCompletion } from "./completion-script.js";

/** `vmctl completion bash|zsh`: the script, generated from the program it is part of. */
export function registerCompletion(program: Parent & CommandTree, deps: CliDeps): void {
  program
    .command("completion")
    .description("print a shell completion script: source <(vmctl completion bash)")
    .addArgument(new Argument("<shell>", "bash or zsh").choices(["bash", "zsh"] as const))
    .action((shell) => {
      const script = shell === "bash" ? bashCompletion(program) : zshCompletion(program);
      deps.stdout(script.trimEnd());
    });
}

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram, type CliDeps } from "../../vmctl/cli.js";
import { commandPath, MODES } from "../../vmctl/commands/modes.js";

const deps: CliDeps = {
  stdout: () => {},
  stderr: () => {},
  clusterPath: "/nonexistent",
  stateDir: "/nonexistent",
  readFile: () => "",
  runnerFor: () => {
    throw new Error("no command runs while the program is only built");
  },
};

interface Tree {
  name(): string;
  readonly parent: Tree | null;
  readonly commands: readonly Tree[];
}

function leaves(c: Tree): Tree[] {
  return c.commands.length ? c.commands.flatMap(leaves) : [c];
}

describe("--dry-run and --json declarations", () => {
  it("declare every command vmctl has, and only those", () => {
    const paths = leaves(buildProgram(deps)).map(commandPath).sort();
    expect(Object.keys(MODES).sort()).toEqual(paths);
  });

  it("are the table in README.md's vmctl section", () => {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    const rows = [
      ...readme.matchAll(/^\| `([a-z ]+)` \| (plans|reads|refused) \| (yes|refused) \|$/gm),
    ];
    expect(Object.fromEntries(rows.map((r) => [r[1], [r[2], r[3]]]))).toEqual(
      Object.fromEntries(
        Object.entries(MODES).map(([path, m]) => [path, [m.dryRun, m.json ? "yes" : "refused"]]),
      ),
    );
  });
});

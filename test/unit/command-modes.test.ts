import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram, type CliDeps } from "../../vmctl/cli.js";
import { commandPath, MODES } from "../../vmctl/commands/modes.js";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

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

/** The objects the read commands below are given: a network, an IP group, a security group (and VM) web1. */
const FIXTURE = [
  ["net", "create", "net1", "--subnet", "10.10.10.0/24"],
  ["net", "create", "web1", "--subnet", "10.20.0.0/24"],
  ["ipg", "create", "web1", "198.51.100.0/24"],
  ["sg", "create", "web1"],
];

/** Read commands whose output is not data (a shell script): --json is refused there. */
const NOT_DATA = ["completion"];

describe("--json on every read command", () => {
  const qemuImgInfo = readFileSync(
    join(import.meta.dirname, "../fixtures/qemu-img-info-snapshots.json"),
    "utf8",
  );

  it("is declared for each command that only reads", () => {
    const reads = leaves(buildProgram(deps))
      .map(commandPath)
      .filter((p) => MODES[p]?.dryRun === "reads" && !NOT_DATA.includes(p));
    expect(reads.length).toBeGreaterThan(5);
    expect(reads.filter((p) => !MODES[p]?.json)).toEqual([]);
  });

  // Every command in the tree that only reads, each required argument given as "web1" (a VM,
  // and a network, of that name exist): a new read command is checked without listing it here.
  const t0 = buildProgram(deps);
  const reads = leaves(t0).filter(
    (c) => MODES[commandPath(c)]?.dryRun === "reads" && !NOT_DATA.includes(commandPath(c)),
  );
  it.each(reads.map((c) => [commandPath(c), c] as const))(
    "vmctl --json %s prints one JSON document",
    async (path, c) => {
      const t = fakeCluster({
        domains: [
          {
            name: "web1",
            state: "shut off",
            xml: vmDomainXml(
              "web1",
              "5d1b2c3e-0000-4000-8000-000000000001",
              "10.10.10.3",
              "52:54:00:00:00:03",
            ),
          },
        ],
        answer: (cmd) =>
          cmd.file === "qemu-img" && cmd.args[0] === "info" ? { stdout: qemuImgInfo } : undefined,
      });
      // One object of each kind named web1. A new kind of object needs its line here.
      for (const argv of FIXTURE) expect(await t.vmctl(...argv), t.err.join("\n")).toBe(0);
      t.clear();
      const args = (
        c as unknown as { registeredArguments: { required: boolean }[] }
      ).registeredArguments
        .filter((a) => a.required)
        .map(() => "web1");
      const code = await t.vmctl("--json", ...path.split(" "), ...args);
      // A report that finds problems (routes, doctor) exits 1 after printing its JSON.
      expect([0, 1], t.err.join("\n")).toContain(code);
      expect(t.out.length, t.err.join("\n")).toBeGreaterThan(0);
      expect(() => JSON.parse(t.out.join("\n"))).not.toThrow();
    },
  );
});

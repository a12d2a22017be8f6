// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, not templates
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";
import { testDir } from "../helpers/test-dir.js";

const UUID = "5d1b2c3e-0000-4000-8000-000000000001";

/**
 * The script `vmctl completion SHELL` prints, and a directory with a `vmctl` on PATH that
 * answers `--json list` / `net list` / `host list` / `router list` with what the real CLI
 * printed for a fake cluster with VMs web1, web2, network net1, host host1 and router router
 * (and logs the arguments it was called with).
 */
async function setup(shell: "bash" | "zsh") {
  const t = fakeCluster({
    domains: [
      {
        name: "web1",
        state: "running",
        xml: vmDomainXml("web1", UUID, "10.10.10.3", "52:54:00:00:00:03"),
      },
      {
        name: "web2",
        state: "shut off",
        xml: vmDomainXml("web2", UUID.replace("1", "2"), "10.10.10.4", "52:54:00:00:00:04"),
      },
    ],
  });
  const d = testDir("vmctl-completion-");
  expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
  t.clear();
  expect(await t.vmctl("--json", "list")).toBe(0);
  writeFileSync(join(d, "list.json"), t.out.join("\n"));
  t.clear();
  for (const [file, argv] of [
    ["net-list", ["net", "list"]],
    ["host-list", ["host", "list"]],
    ["router-list", ["router", "list"]],
  ] as const) {
    expect(await t.vmctl("--json", ...argv)).toBe(0);
    writeFileSync(join(d, `${file}.json`), t.out.join("\n"));
    t.clear();
  }
  const answers = ["net", "host", "router"].map(
    (k) => `*"${k} list") cat "${d}/${k}-list.json" ;;`,
  );
  writeFileSync(
    join(d, "vmctl"),
    `#!/bin/sh\necho "$*" >> "${d}/calls"\ncase "$*" in ${answers.join(" ")} *list) cat "${d}/list.json" ;; esac\n`,
  );
  chmodSync(join(d, "vmctl"), 0o755);
  expect(await t.vmctl("completion", shell)).toBe(0);
  writeFileSync(join(d, `vmctl.${shell}`), `${t.out.join("\n")}\n`);
  return { d, calls: () => readFileSync(join(d, "calls"), "utf8").trim().split("\n") };
}

/** Real bash: source the script, then ask the completion function for `vmctl WORDS… CUR`. */
function bash(d: string, line: string[]): string[] {
  const words = line.map((w) => `'${w}'`).join(" ");
  const script = [
    `source ${d}/vmctl.bash`,
    "complete -p vmctl",
    `COMP_WORDS=(vmctl ${words}); COMP_CWORD=${line.length}`,
    "_vmctl",
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  return execFileSync("bash", ["--norc", "-c", script], {
    encoding: "utf8",
    env: { PATH: `${d}:/usr/bin:/bin` },
  })
    .trimEnd()
    .split("\n");
}

describe("vmctl completion", () => {
  it("bash: registers for vmctl and completes every subcommand, then the groups' subcommands", async () => {
    const { d } = await setup("bash");
    const top = bash(d, [""]);
    expect(top[0]).toBe("complete -F _vmctl vmctl");
    expect(top.slice(1)).toEqual(
      expect.arrayContaining([
        "net",
        "host",
        "router",
        "create",
        "list",
        "resize",
        "snapshot",
        "topology",
        "completion",
      ]),
    );
    expect(bash(d, ["sn"]).slice(1)).toEqual(["snapshot"]);
    expect(bash(d, ["net", ""]).slice(1)).toEqual(["create", "list", "show", "update", "delete"]);
    // Global options before the command are skipped, with their values.
    expect(bash(d, ["--cluster", "/tmp/c.yaml", "snapshot", "re"]).slice(1)).toEqual(["revert"]);
  });

  it("bash: completes each command's flags and the choices of a flag's value", async () => {
    const { d } = await setup("bash");
    expect(bash(d, ["resize", "web1", "--"]).slice(1)).toEqual(
      expect.arrayContaining(["--cpus", "--memory", "--disk", "--dry-run", "--json", "--help"]),
    );
    expect(bash(d, ["topology", "--format", ""]).slice(1)).toEqual(["text", "dot", "svg"]);
    expect(bash(d, ["create", "x", "--identity", "o"]).slice(1)).toEqual(["openstack"]);
  });

  it("bash: completes VM and network names from vmctl's own --json output", async () => {
    const { d, calls } = await setup("bash");
    expect(bash(d, ["ssh", ""]).slice(1)).toEqual(["web1", "web2"]);
    expect(bash(d, ["snapshot", "list", "w"]).slice(1)).toEqual(["web1", "web2"]);
    expect(bash(d, ["net", "show", ""]).slice(1)).toEqual(["net1"]);
    // The second argument of ssh is the guest's command: nothing to complete from vmctl.
    expect(bash(d, ["ssh", "web1", ""]).slice(1)).toEqual([]);
    expect(bash(d, ["--state-dir", "/srv/s", "show", ""]).slice(1)).toEqual(["web1", "web2"]);
    expect(calls()).toEqual([
      "--json list",
      "--json list",
      "--json net list",
      "--state-dir /srv/s --json list",
    ]);
  });

  it("bash: completes host and router names from the cluster file, via vmctl --json host/router list", async () => {
    const { d, calls } = await setup("bash");
    expect(bash(d, ["host", ""]).slice(1)).toEqual(["apply", "list"]);
    expect(bash(d, ["host", "apply", ""]).slice(1)).toEqual(["host1"]);
    expect(bash(d, ["router", "apply", "r"]).slice(1)).toEqual(["router"]);
    // doctor takes a host or a router.
    expect(bash(d, ["doctor", ""]).slice(1)).toEqual(["host1", "router"]);
    // --host's value, on every command that has the flag.
    expect(bash(d, ["create", "web3", "--host", ""]).slice(1)).toEqual(["host1"]);
    expect(bash(d, ["port", "attach", "net1", "--host", "h"]).slice(1)).toEqual(["host1"]);
    expect(bash(d, ["--cluster", "/etc/c.yaml", "host", "apply", ""]).slice(1)).toEqual(["host1"]);
    expect(calls()).toEqual([
      "--json host list",
      "--json router list",
      "--json host list",
      "--json router list",
      "--json host list",
      "--json host list",
      "--cluster /etc/c.yaml --json host list",
    ]);
  });

  it("zsh: the script parses and its functions give the same candidates under zsh", async () => {
    const { d } = await setup("zsh");
    const out = execFileSync(
      "zsh",
      [
        "-f",
        "-c",
        [
          "compdef() { echo compdef $@; }",
          `source ${d}/vmctl.zsh`,
          "_vmctl_context net; _vmctl_candidates ''",
          "_vmctl_context ssh; _vmctl_candidates ''",
          "_vmctl_context topology --format; _vmctl_candidates ''",
          "_vmctl_context create web3 --host; _vmctl_candidates ''",
          "_vmctl_context doctor; _vmctl_candidates ''",
        ].join("\n"),
      ],
      { encoding: "utf8", env: { PATH: `${d}:/usr/bin:/bin` } },
    );
    expect(out.trimEnd().split("\n")).toEqual([
      "compdef _vmctl vmctl",
      ...["create", "list", "show", "update", "delete"],
      ...["web1", "web2"],
      ...["text", "dot", "svg"],
      "host1",
      ...["host1", "router"],
    ]);
  });
});

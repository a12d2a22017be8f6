import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { Command } from "../../lib/exec/command.js";
import type { RunResult } from "../../lib/exec/runner.js";
import type { HostSpec } from "../../vmctl/net/cluster.js";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";
import { waitUntilReady } from "../../vmctl/vm/wait.js";
import { testHost } from "../helpers/hosts.js";
import { RecordingRunner } from "../helpers/recording-runner.js";

const host: HostSpec = testHost({
  target: { kind: "netns", name: "h1" },
  stateDir: "/srv/h1",
  mdserverStateDir: "/srv/md",
});
const net = defineNetwork(structuredClone(EMPTY_STORE), { name: "net1", subnet: "10.10.10.0/24" });
const target = {
  name: "web1",
  uuid: "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8",
  ip: "10.10.10.3",
  mac: "52:54:00:c6:d7:e8",
  host,
  net,
  consoleLog: "/srv/h1/console/web1.log",
};
/** A real guest's serial console (cloud-init 22.4 logging warnings on its way to "finished"). */
const WARNED = readFileSync(
  resolve(import.meta.dirname, "../fixtures/console-cloud-init-22.4-warning.log"),
  "utf8",
);
/** The same boot had it logged nothing: its warning lines taken out. */
const CLEAN = WARNED.split("\n")
  .filter((l) => !l.includes("[WARNING]"))
  .join("\n");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostKey";

/** A guest that reaches `stages` stages, on a clock that moves 500 ms per sleep. */
function guest(stages: number, scanned = KEY, consoleLog: string | null = CLEAN) {
  let now = 0;
  const answer = (c: Command): Partial<RunResult> | undefined => {
    const path = c.args.at(-1) ?? "";
    if (c.file === "virsh") return { stdout: stages >= 1 ? "running\n" : "shut off\n" };
    if (c.file === "cat" && path.endsWith(".leases"))
      return stages >= 2 ? { stdout: `1 ${target.mac} 10.10.10.3 web1 *\n` } : { exitCode: 1 };
    if (c.file === "cat" && path.endsWith(".json")) {
      const record = {
        ...(stages >= 3 ? { firstRequest: "t" } : {}),
        ...(stages >= 4 ? { phoneHome: { hostKeys: { ed25519: `${KEY} root@web1` } } } : {}),
      };
      return { stdout: JSON.stringify(record) };
    }
    if (c.file === "cat" && path === target.consoleLog)
      return consoleLog === null ? { exitCode: 1 } : { stdout: consoleLog };
    if (c.file === "ssh-keyscan")
      return stages >= 5 ? { stdout: `10.10.10.3 ${scanned}\n` } : { exitCode: 1 };
    return undefined;
  };
  const progress: string[] = [];
  const deps = {
    host: new RecordingRunner(
      host.target,
      answer,
      "virsh, cat of the lease file and boot record, ssh-keyscan",
    ),
    virsh: new RecordingRunner({ kind: "local" }, answer, "virsh domstate"),
    progress: (l: string) => progress.push(l),
    sleep: async (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
  return { deps, progress };
}

describe("waiting for a VM to be ready", () => {
  it("reports each stage and returns the host key the guest reported and ssh showed", async () => {
    const g = guest(5);
    const ready = await waitUntilReady(target, g.deps, 60);
    expect(ready.hostKey).toBe(`${KEY} root@web1`);
    expect(ready.cloudInit).toEqual({ finished: true, version: "22.4.2", problems: [] });
    expect(g.progress.map((l) => l.replace(/ \([\d.]+ s\)$/, ""))).toEqual([
      "web1: domain running",
      "web1: DHCP lease",
      "web1: first metadata request",
      "web1: boot finished (phone_home)",
      "web1: ssh port open",
    ]);
  });

  it.each([
    [0, "domain running"],
    [1, "DHCP lease"],
    [2, "first metadata request"],
    [3, "boot finished (phone_home)"],
    [4, "ssh port open"],
  ])(
    "after %i stages, times out naming the stuck one and the console log",
    async (stages, stuck) => {
      const g = guest(stages);
      await expect(waitUntilReady(target, g.deps, 30)).rejects.toThrow(
        new RegExp(
          `^web1: timed out after 30 s waiting for ${stuck.replace(/[()]/g, "\\$&")}; look at .* and the console log /srv/h1/console/web1.log on host1$`,
        ),
      );
    },
  );

  it("reports a boot whose cloud-init logged warnings, with the first of them", async () => {
    const ready = await waitUntilReady(target, guest(5, KEY, WARNED).deps, 60);
    expect(ready.cloudInit.finished).toBe(true);
    expect(ready.cloudInit.problems).toHaveLength(5);
    expect(ready.cloudInit.problems[0]).toBe(
      "DataSourceEc2.py[WARNING]: Metadata 'network' key not valid: None.",
    );
  });

  it("is ready without a verdict when the console never shows cloud-init's final message", async () => {
    const g = guest(5, KEY, null);
    const ready = await waitUntilReady(target, g.deps, 60);
    expect(ready.cloudInit).toEqual({ finished: false, version: undefined, problems: [] });
    expect(
      g.deps.host.commands.filter((c) => c.args.includes(target.consoleLog)).length,
    ).toBeGreaterThan(1);
  });

  it("refuses a host key at the VM's address that is not the one the guest reported", async () => {
    const g = guest(5, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMallory");
    await expect(waitUntilReady(target, g.deps, 60)).rejects.toThrow(
      "web1: the SSH host key at 10.10.10.3 is not the one the guest reported",
    );
  });
});

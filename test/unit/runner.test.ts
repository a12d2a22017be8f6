import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CommandError } from "../../lib/errors.js";
import { cmd, formatCommand, LOCAL, parseTarget, wrapForTarget } from "../../lib/exec/command.js";
import { DryRunRunner, ExecRunner } from "../../lib/exec/runner.js";
import { RecordingRunner } from "../helpers/recording-runner.js";

describe("command targets", () => {
  it("parses local, netns: and ssh: targets and refuses others", () => {
    expect(parseTarget("local")).toEqual(LOCAL);
    expect(parseTarget("netns:host1")).toEqual({ kind: "netns", name: "host1" });
    expect(parseTarget("ssh:root@192.0.2.10")).toEqual({
      kind: "ssh",
      destination: "root@192.0.2.10",
    });
    expect(parseTarget("netns:")).toBeUndefined();
    expect(parseTarget("netns:a b")).toBeUndefined();
    expect(parseTarget("docker:x")).toBeUndefined();
  });

  it("runs a command in a namespace through ip netns exec, as argv", () => {
    expect(wrapForTarget({ kind: "netns", name: "h1" }, cmd("ip", ["-json", "link"]))).toEqual({
      file: "ip",
      args: ["netns", "exec", "h1", "ip", "-json", "link"],
    });
  });

  it("quotes every argument once for ssh, with LC_ALL=C", () => {
    const w = wrapForTarget({ kind: "ssh", destination: "root@h" }, cmd("echo", ["a b", "it's"]));
    expect(w.file).toBe("ssh");
    expect(w.args.at(-1)).toBe(`env LC_ALL=C echo 'a b' 'it'\\''s'`);
    expect(w.args).toContain("BatchMode=yes");
  });
});

describe("runners", () => {
  it("ExecRunner returns output and throws CommandError with the command and stderr", async () => {
    const r = new ExecRunner(LOCAL);
    expect((await r.run(cmd("printf", ["%s", "hi"]))).stdout).toBe("hi");
    const err = await r.run(cmd("ls", ["/no/such/path"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).message).toMatch(
      /^ls \/no\/such\/path failed \(exit 2\): .*No such file/,
    );
    expect((await r.probe(cmd("false", []))).exitCode).toBe(1);
  });

  it("ExecRunner names a missing program in one line", async () => {
    const err = await new ExecRunner(LOCAL)
      .run(cmd("no-such-tool-xyz", []))
      .catch((e: unknown) => e);
    expect((err as CommandError).message).toMatch(/^no-such-tool-xyz failed: .*ENOENT/);
  });

  it("DryRunRunner prints mutating commands instead of running them, and runs reads", async () => {
    const printed: string[] = [];
    const inner = new RecordingRunner(
      LOCAL,
      (c) => (c.mutates ? undefined : { stdout: "state" }),
      "reads only",
    );
    const dry = new DryRunRunner(inner, (l) => printed.push(l));
    expect((await dry.run(cmd("ip", ["-json", "link"]))).stdout).toBe("state");
    await dry.run(cmd("ip", ["link", "add", "br 1", "type", "bridge"], true));
    expect(printed).toEqual(["ip link add 'br 1' type bridge"]);
    expect(inner.commands.map(formatCommand)).toEqual(["ip -json link"]);
  });
});

describe("holding a lock through a Runner", () => {
  it("ExecRunner.hold waits while another holder has the flock, and gets it once released", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hold-"));
    try {
      const r = new ExecRunner(LOCAL);
      const lock = cmd("flock", ["-w", "10", "--", join(dir, "l"), "cat"], true);
      const first = await r.hold(lock);
      let second = false;
      const waiting = r.hold(lock).then((h) => {
        second = true;
        return h;
      });
      await new Promise((res) => setTimeout(res, 300));
      expect(second).toBe(false);
      await first.release();
      await (await waiting).release();
      expect(second).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ExecRunner.hold fails with the command when the holder exits first", async () => {
    const err = await new ExecRunner(LOCAL).hold(cmd("false", [])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toBe("false failed (exit 1)");
  });

  it("DryRunRunner prints a mutating hold instead of taking it", async () => {
    const lines: string[] = [];
    const inner = new RecordingRunner(LOCAL, () => undefined, "nothing");
    const held = await new DryRunRunner(inner, (l) => lines.push(l)).hold(
      cmd("flock", ["/x/l", "cat"], true),
    );
    await held.release();
    expect(lines).toEqual(["flock /x/l cat"]);
    expect(inner.commands).toEqual([]);
  });
});

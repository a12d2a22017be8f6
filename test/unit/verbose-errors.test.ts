import { describe, expect, it } from "vitest";
import type { Command } from "../../lib/exec/command.js";
import { fakeCluster } from "../helpers/fake-cluster.js";

const STDERR =
  "Error: argument is wrong\nRTNETLINK answers: Operation not permitted\nCommand failed -:1\n";
const failBatch = (c: Command) =>
  c.file === "ip" && c.args[0] === "-batch" ? { exitCode: 2, stderr: STDERR } : undefined;

describe("vmctl --verbose", () => {
  it.each([
    ["host", "apply", "host1"],
    ["router", "apply"],
  ])(
    "shows the tool's whole stderr after the one-line error of a failed %s apply",
    async (...argv) => {
      const t = fakeCluster({ answer: failBatch });
      expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
      expect(await t.vmctl("--verbose", ...argv)).toBe(1);
      expect(t.err[0]).toMatch(
        /^vmctl: (host1|router): ip .* failed \(exit 2\): RTNETLINK answers: Operation not permitted/,
      );
      expect(t.err.slice(1)).toEqual([STDERR.trimEnd()]);
    },
  );

  it("without --verbose shows only the one line", async () => {
    const t = fakeCluster({ answer: failBatch });
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    expect(await t.vmctl("host", "apply", "host1")).toBe(1);
    expect(t.err).toHaveLength(1);
  });
});

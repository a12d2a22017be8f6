import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeCluster } from "../helpers/fake-cluster.js";

describe("vmctl create --image PATH", () => {
  it("refuses a disk file with a backing file before anything is made", async () => {
    const t = fakeCluster({
      answer: (c) =>
        c.file === "qemu-img" && c.args[0] === "info"
          ? {
              stdout: JSON.stringify({
                format: "qcow2",
                "virtual-size": 2 ** 30,
                "backing-filename": "/etc/shadow",
              }),
            }
          : undefined,
    });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const disk = join(t.d, "backed.qcow2");
    writeFileSync(disk, "");
    t.clear();
    const before = t.stateFiles();
    const code = await t.vmctl("create", "web1", "--net", "net1", "--image", disk, "--no-wait");
    expect(code).toBe(1);
    expect(t.err).toEqual([
      `vmctl: ${disk}: has a backing file (/etc/shadow); vmctl takes only self-contained images (flatten it: qemu-img convert -O qcow2 IN OUT)`,
    ]);
    expect(t.mutations()).toEqual([]);
    expect(t.stateFiles()).toEqual(before);
  });
});

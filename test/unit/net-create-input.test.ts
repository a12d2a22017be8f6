import { describe, expect, it } from "vitest";
import { fakeCluster } from "../helpers/fake-cluster.js";

describe("vmctl net create", () => {
  it.each([
    [
      ["--bridge-ip", "10.0.0.1"],
      "vmctl: --gateway 10.0.0.1 (the default: the subnet's first address) and --bridge-ip 10.0.0.1 are the same address; give them different addresses",
    ],
    [
      ["--gateway", "10.0.0.2"],
      "vmctl: --gateway 10.0.0.2 and --bridge-ip 10.0.0.2 (the default: the subnet's second address) are the same address; give them different addresses",
    ],
    [
      ["--gateway", "10.0.0.9", "--bridge-ip", "10.0.0.9"],
      "vmctl: --gateway 10.0.0.9 and --bridge-ip 10.0.0.9 are the same address; give them different addresses",
    ],
  ])(
    "names both flags and their value when gateway and bridge collide (%j)",
    async (flags, line) => {
      const t = fakeCluster();
      const before = t.stateFiles();
      expect(await t.vmctl("net", "create", "n", "--subnet", "10.0.0.0/24", ...flags)).toBe(1);
      expect(t.err).toEqual([line]);
      expect(t.stateFiles()).toEqual(before);
    },
  );
});

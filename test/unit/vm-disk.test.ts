import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resizedInstanceType, sizeInstanceType } from "../../vmctl/vm/instance-type.js";
import { parseOverlayInfo } from "../../vmctl/vm/overlay.js";
import { parseDomainSize } from "../../vmctl/vm/resize.js";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

const INFO = readFileSync(
  join(import.meta.dirname, "../fixtures/qemu-img-info-snapshots.json"),
  "utf8",
);
const UUID = "5d1b2c3e-0000-4000-8000-000000000001";
const XML = vmDomainXml("web1", UUID, "10.10.10.3", "52:54:00:00:00:03").replace(
  "<metadata>",
  "<memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>1048576</currentMemory><vcpu placement='static'>1</vcpu><metadata>",
);

/** web1 with the instance type `type` in its record (create writes c1m1024 for this size). */
const typed = (type: string) =>
  XML.replace(
    "</vmctl:instance>",
    `<vmctl:instance-type>${type}</vmctl:instance-type></vmctl:instance>`,
  );

function withWeb1(state: string, xml = XML) {
  return fakeCluster({
    domains: [{ name: "web1", state, xml }],
    answer: (c) => {
      if (c.file === "qemu-img" && c.args[0] === "info") return { stdout: INFO };
      if (c.file === "virsh" && c.args.includes("--inactive")) return { stdout: xml };
      return undefined;
    },
  });
}

/** The `virsh metadata --set` resize runs for web1's record with the instance type `type`. */
const setRecord = (type: string) =>
  `local: virsh -c qemu:///system -q metadata --config --key vmctl --set '  <instance>
    <network>net1</network>
    <ip>10.10.10.3</ip>
    <instance-type>${type}</instance-type>
    <login-user>debian</login-user>
  </instance>' -- web1 urn:vmctl:instance:1`;

describe("vmctl resize", () => {
  it("reads vCPUs and memory from the domain's XML", () => {
    expect(parseDomainSize(XML)).toEqual({
      vcpus: 1,
      maxVcpus: 1,
      memoryKiB: 1048576,
      maxMemoryKiB: 1048576,
    });
    expect(
      parseDomainSize(
        "<vcpu placement='static' current='2'>4</vcpu><memory unit='MiB'>512</memory>",
      ),
    ).toEqual({ vcpus: 2, maxVcpus: 4, memoryKiB: 524288, maxMemoryKiB: 524288 });
  });

  it("raises the maximum before the current value, and grows the overlay", async () => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("resize", "web1", "--cpus", "2", "--memory", "2G", "--disk", "1G")).toBe(
      0,
    );
    // One list per machine (the recording keeps each machine's order, not the interleaving).
    expect(t.mutations()).toEqual([
      "local: virsh -c qemu:///system -q 'setvcpus --config --maximum -- web1 2; setvcpus --config -- web1 2; setmaxmem --config -- web1 2097152; setmem --config -- web1 2097152'",
      "netns:h1: qemu-img resize -q -f qcow2 -- /srv/h1/disks/web1.qcow2 1073741824",
    ]);
    expect(t.out).toEqual(["web1: resized: disk → 1G, cpus 1 → 2, memory 1024 MiB → 2048 MiB"]);
  });

  it("stops at an error virsh reports inside its batch, before the disk grows", async () => {
    const t = fakeCluster({
      domains: [{ name: "web1", state: "shut off", xml: XML }],
      answer: (c) => {
        if (c.file === "qemu-img" && c.args[0] === "info") return { stdout: INFO };
        if (c.file === "virsh" && c.args.includes("--inactive")) return { stdout: XML };
        if (c.file === "virsh" && c.args.at(-1)?.startsWith("setvcpus"))
          return {
            stderr: "error: invalid argument: requested cpu amount exceeds maximum (2 > 1)\n",
          };
        return undefined;
      },
    });
    expect(await t.vmctl("resize", "web1", "--cpus", "2", "--disk", "1G")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: web1: error: invalid argument: requested cpu amount exceeds maximum (2 > 1)",
    ]);
    expect(t.mutations().filter((m) => m.includes("qemu-img"))).toEqual([]);
  });

  it("lowers the current value before the maximum", async () => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("resize", "web1", "--memory", "512M"), t.err.join("")).toBe(0);
    expect(t.mutations()).toEqual([
      "local: virsh -c qemu:///system -q 'setmem --config -- web1 524288; setmaxmem --config -- web1 524288'",
    ]);
  });

  it("plans the instance type from the size: only a type of vmctl's own form changes", () => {
    expect(sizeInstanceType(2, 2048)).toBe("c2m2048");
    expect(resizedInstanceType("c1m1024", 2, 2048)).toBe("c2m2048");
    expect(resizedInstanceType("c2m2048", 2, 2048)).toBeUndefined();
    // Stale (a VM resized before resize kept the type): set from the size it has.
    expect(resizedInstanceType("c1m512", 1, 1024)).toBe("c1m1024");
    // Someone else's type, or none (mdserver serves its configured default): left as it is.
    expect(resizedInstanceType("t3.micro", 2, 2048)).toBeUndefined();
    expect(resizedInstanceType("c2m2048.large", 4, 4096)).toBeUndefined();
    expect(resizedInstanceType(undefined, 2, 2048)).toBeUndefined();
  });

  it("writes the record back with the new size's instance type, after the sizes", async () => {
    const t = withWeb1("shut off", typed("c1m1024"));
    expect(await t.vmctl("resize", "web1", "--cpus", "2"), t.err.join("")).toBe(0);
    expect(t.mutations()).toEqual([
      "local: virsh -c qemu:///system -q 'setvcpus --config --maximum -- web1 2; setvcpus --config -- web1 2'",
      setRecord("c2m1024"),
    ]);
    expect(t.out).toEqual(["web1: resized: cpus 1 → 2, instance type c1m1024 → c2m1024"]);
  });

  it("sets a stale instance type even when the size is already as asked", async () => {
    const t = withWeb1("shut off", typed("c1m512"));
    expect(await t.vmctl("resize", "web1", "--memory", "1G"), t.err.join("")).toBe(0);
    expect(t.mutations()).toEqual([setRecord("c1m1024")]);
    expect(t.out).toEqual(["web1: resized: instance type c1m512 → c1m1024"]);
  });

  it("keeps an instance type that is not of vmctl's form", async () => {
    const t = withWeb1("shut off", typed("t3.micro"));
    expect(await t.vmctl("resize", "web1", "--cpus", "2", "--memory", "2G")).toBe(0);
    expect(t.mutations().filter((m) => m.includes("metadata"))).toEqual([]);
    expect(t.out).toEqual(["web1: resized: cpus 1 → 2, memory 1024 MiB → 2048 MiB"]);
  });

  it("leaves the instance type when virsh reports an error in the size batch", async () => {
    const xml = typed("c1m1024");
    const t = fakeCluster({
      domains: [{ name: "web1", state: "shut off", xml }],
      answer: (c) => {
        if (c.file === "virsh" && c.args.includes("--inactive")) return { stdout: xml };
        if (c.file === "virsh" && c.args.at(-1)?.startsWith("setvcpus"))
          return { stderr: "error: unsupported configuration: CPU topology doesn't match\n" };
        return undefined;
      },
    });
    expect(await t.vmctl("resize", "web1", "--cpus", "2")).toBe(1);
    expect(t.mutations().filter((m) => m.includes("metadata"))).toEqual([]);
  });

  it("--dry-run prints the size batch and the record it would write, changing nothing", async () => {
    const t = withWeb1("shut off", typed("c1m1024"));
    expect(await t.vmctl("--dry-run", "resize", "web1", "--cpus", "2"), t.err.join("")).toBe(0);
    expect(t.mutations()).toEqual([]);
    expect(t.out).toEqual([
      "virsh -c qemu:///system -q 'setvcpus --config --maximum -- web1 2; setvcpus --config -- web1 2'",
      setRecord("c2m1024").replace("local: ", ""),
      "web1: would resize: cpus 1 → 2, instance type c1m1024 → c2m1024",
    ]);
  });

  it("refuses a running VM in one line, changing nothing", async () => {
    const t = withWeb1("running");
    expect(await t.vmctl("resize", "web1", "--cpus", "2")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: web1 is running: resize needs it shut off; stop it first (vmctl stop web1)",
    ]);
    expect(t.mutations()).toEqual([]);
  });

  it("refuses to shrink the disk before changing anything else", async () => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("resize", "web1", "--cpus", "2", "--disk", "100M")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: --disk 100M: smaller than web1's disk (134217728 bytes); a disk only grows",
    ]);
    expect(t.mutations()).toEqual([]);
  });

  it("asks for something to change", async () => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("resize", "web1")).toBe(1);
    expect(t.err).toEqual(["vmctl: resize web1: give --cpus, --memory or --disk"]);
  });
});

describe("vmctl snapshot", () => {
  it("lists the overlay's internal snapshots from qemu-img info", async () => {
    expect(parseOverlayInfo(INFO).snapshots.map((s) => s.name)).toEqual([
      "before-upgrade",
      "after-resize",
    ]);
    const t = withWeb1("running");
    expect(await t.vmctl("snapshot", "list", "web1")).toBe(0);
    expect(t.out[0]).toMatch(/^NAME\s+ID\s+TAKEN$/);
    expect(t.out[1]).toMatch(/^before-upgrade\s+1\s+20\d\d-/);
  });

  it.each([
    [["create", "web1", "s1"], "qemu-img snapshot -c s1 -- /srv/h1/disks/web1.qcow2"],
    [
      ["revert", "web1", "before-upgrade"],
      "qemu-img snapshot -a before-upgrade -- /srv/h1/disks/web1.qcow2",
    ],
    [
      ["delete", "web1", "after-resize"],
      "qemu-img snapshot -d after-resize -- /srv/h1/disks/web1.qcow2",
    ],
  ])("%j runs qemu-img on the VM's host", async (argv, command) => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("snapshot", ...argv)).toBe(0);
    expect(t.mutations()).toEqual([`netns:h1: ${command}`]);
  });

  it.each([
    [["create", "web1", "before-upgrade"], "web1 already has a snapshot before-upgrade"],
    [["revert", "web1", "nope"], "web1 has no snapshot nope (see: vmctl snapshot list web1)"],
    [
      ["delete", "web1", "1"],
      "snapshot name 1: up to 63 letters, digits and _ . -, starting with a letter",
    ],
  ])("refuses %j in one line", async (argv, line) => {
    const t = withWeb1("shut off");
    expect(await t.vmctl("snapshot", ...argv)).toBe(1);
    expect(t.err).toEqual([`vmctl: ${line}`]);
    expect(t.mutations()).toEqual([]);
  });

  it("refuses to change the disk of a running VM", async () => {
    const t = withWeb1("running");
    expect(await t.vmctl("snapshot", "revert", "web1", "before-upgrade")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: web1 is running: revert needs it shut off; stop it first (vmctl stop web1)",
    ]);
    expect(t.mutations()).toEqual([]);
  });
});

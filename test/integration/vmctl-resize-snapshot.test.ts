import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  instanceFromDomainXml,
  type MetadataFields,
  metadataFieldsOf,
  renderMetadataElement,
} from "../../lib/metadata-xml.js";
import { TestLibvirtd } from "../helpers/libvirtd.js";
import { run } from "../helpers/md-netns.js";
import { type CliResult, vmctl } from "../helpers/netns-fabric.js";

// resize and snapshot against a real libvirtd (the test's own, in a namespace) and real
// qemu-img/qemu-io on a real qcow2 overlay over a base image. The domain is defined shut off
// (no guest boots); one check starts it — SeaBIOS finds no bootable disk and waits — to see
// that a running VM is refused. Run under the machine-wide lock: it starts libvirtd and QEMU.
const id = `rs${process.pid % 10000}`;
const lv = new TestLibvirtd(`${id}-lv`);
const dir = mkdtempSync(join(tmpdir(), "vmctl-resize-"));
const hostDir = join(dir, "host");
const disk = join(hostDir, "disks", "web1.qcow2");
const base = join(dir, "base.qcow2");
const lab = { clusterFile: join(dir, "cluster.yaml"), stateDir: join(dir, "state") };
const MiB = 2 ** 20;
/** web1's record as create writes it for 1 vCPU and 128 MiB, with text that needs escaping. */
const RECORD: MetadataFields = {
  network: "net1",
  subnet: "10.10.10.0/24",
  gateway: "10.10.10.1",
  addresses: ["10.10.10.3"],
  sshKeys: [{ name: "o'brien <laptop>", key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB o@b" }],
  passwordHash: "$6$salt$h/a.sh",
  userData: Buffer.from("#!/bin/sh\necho 'a; b' \"$HOME\" <&> \\\n"),
  image: "deb",
  instanceType: "c1m128",
  created: "2026-01-01T00:00:00Z",
  loginUser: "debian",
};
/** The record in web1's definition, as mdserver reads it. */
const record = () => {
  const inst = instanceFromDomainXml(lv.virsh("dumpxml", "--inactive", "web1"));
  return inst && metadataFieldsOf(inst);
};

const cli = (...args: string[]): Promise<CliResult> =>
  vmctl(lab as Parameters<typeof vmctl>[0], args);
async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const info = () =>
  JSON.parse(run("qemu-img", ["info", "-U", "--output=json", disk])) as {
    "virtual-size": number;
    "backing-filename"?: string;
    snapshots?: { name: string }[];
  };
/** qemu-io reads the first 64 KiB of the disk (overlay over base) and checks every byte. */
function holds(pattern: string): boolean {
  try {
    run("qemu-io", ["-f", "qcow2", "-c", `read -P ${pattern} 0 64k`, disk]);
    return true;
  } catch {
    return false;
  }
}
const write = (pattern: string) =>
  run("qemu-io", ["-f", "qcow2", "-c", `write -P ${pattern} 0 64k`, disk]);

describe("vmctl resize and snapshot with libvirt and qemu-img", () => {
  beforeAll(async () => {
    await lv.start();
    // QEMU runs as libvirt-qemu: it must reach the disk (docs/libvirt.md).
    chmodSync(dir, 0o755);
    mkdirSync(join(hostDir, "disks"), { recursive: true, mode: 0o755 });
    run("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
    run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, disk]);
    writeFileSync(
      lab.clusterFile,
      `hosts:\n  - {name: host1, address: 198.18.0.11, lan: eth0, target: local, libvirt: "${lv.uri}", state-dir: ${hostDir}}\nrouter: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0}\n`,
    );
    const xml = `<domain type='qemu'>
  <name>web1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
  <metadata>
${renderMetadataElement(RECORD)}
  </metadata>
</domain>`;
    writeFileSync(join(dir, "web1.xml"), xml);
    lv.virsh("define", join(dir, "web1.xml"));
  }, 120_000);

  afterAll(async () => {
    try {
      lv.virsh("destroy", "web1");
    } catch {
      // not running
    }
    await lv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sees the shut-off domain as a vmctl VM", async () => {
    const vms = JSON.parse(await ok("--json", "list")) as { name: string; state: string }[];
    expect(vms.map((v) => `${v.name} ${v.state}`)).toEqual(["web1 shut off"]);
  });

  it("a snapshot keeps the overlay's data: revert brings it back, later writes are gone", async () => {
    write("0xaa");
    expect(await ok("snapshot", "create", "web1", "s1")).toBe("web1: snapshot created: s1\n");
    write("0xbb");
    expect(holds("0xbb")).toBe(true);
    const list = JSON.parse(await ok("--json", "snapshot", "list", "web1")) as { name: string }[];
    expect(list.map((s) => s.name)).toEqual(["s1"]);
    expect(await ok("snapshot", "revert", "web1", "s1")).toBe("web1: reverted to snapshot s1\n");
    expect(holds("0xaa")).toBe(true);
    // The backing chain is intact and the base was never written.
    expect(info()["backing-filename"]).toBe(base);
    expect(run("qemu-img", ["info", "--output=json", base])).not.toContain('"snapshots"');
  });

  it("refuses a second snapshot of one name and an unknown one, then deletes", async () => {
    const again = await cli("snapshot", "create", "web1", "s1");
    expect([again.code, again.stderr]).toEqual([1, "vmctl: web1 already has a snapshot s1\n"]);
    const none = await cli("snapshot", "revert", "web1", "nope");
    expect([none.code, none.stderr]).toEqual([
      1,
      "vmctl: web1 has no snapshot nope (see: vmctl snapshot list web1)\n",
    ]);
    expect(await ok("snapshot", "delete", "web1", "s1")).toBe("web1: deleted snapshot s1\n");
    expect(info().snapshots ?? []).toEqual([]);
  });

  it("resizes vCPUs, memory and the disk of the shut-off domain; the same again changes nothing", async () => {
    expect(await ok("resize", "web1", "--cpus", "2", "--memory", "256M", "--disk", "128M")).toBe(
      "web1: resized: disk → 128M, cpus 1 → 2, memory 128 MiB → 256 MiB, instance type c1m128 → c2m256\n",
    );
    const xml = lv.virsh("dumpxml", "--inactive", "web1");
    expect(xml).toMatch(/<vcpu placement='static'>2<\/vcpu>/);
    expect(xml).toMatch(/<memory unit='KiB'>262144<\/memory>/);
    expect(xml).toMatch(/<currentMemory unit='KiB'>262144<\/currentMemory>/);
    expect(info()["virtual-size"]).toBe(128 * MiB);
    // libvirt kept the rest of the record as it was, byte for byte where mdserver serves bytes.
    expect(record()).toEqual({ ...RECORD, instanceType: "c2m256" });
    const shown = JSON.parse(await ok("--json", "show", "web1")) as { cpusMemory: string };
    expect(shown.cpusMemory).toBe("c2m256");
    expect(await ok("resize", "web1", "--cpus", "2", "--memory", "256M", "--disk", "128M")).toBe(
      "web1: already that size\n",
    );
    expect(await ok("resize", "web1", "--cpus", "1", "--memory", "192M")).toBe(
      "web1: resized: cpus 2 → 1, memory 256 MiB → 192 MiB, instance type c2m256 → c1m192\n",
    );
    expect(lv.virsh("dumpxml", "--inactive", "web1")).toMatch(/<vcpu placement='static'>1<\/vcpu>/);
    expect(record()).toEqual({ ...RECORD, instanceType: "c1m192" });
  });

  it("--dry-run prints the record it would write and changes nothing", async () => {
    const before = lv.virsh("dumpxml", "--inactive", "web1");
    const out = await ok("--dry-run", "resize", "web1", "--cpus", "2");
    expect(out).toContain(" metadata --config --key vmctl --set '");
    expect(out).toContain("<instance-type>c2m192</instance-type>");
    expect(out.split("\n").at(-2)).toBe(
      "web1: would resize: cpus 1 → 2, instance type c1m192 → c2m192",
    );
    expect(lv.virsh("dumpxml", "--inactive", "web1")).toBe(before);
  });

  it("keeps an instance type that is not of vmctl's form", async () => {
    lv.virsh(
      "metadata",
      "--config",
      "--key",
      "vmctl",
      "--set",
      "<instance><network>net1</network><ip>10.10.10.3</ip><instance-type>t3.micro</instance-type></instance>",
      "--",
      "web1",
      "urn:vmctl:instance:1",
    );
    expect(await ok("resize", "web1", "--memory", "128M")).toBe(
      "web1: resized: memory 192 MiB → 128 MiB\n",
    );
    expect(record()).toEqual({
      network: "net1",
      addresses: ["10.10.10.3"],
      sshKeys: [],
      instanceType: "t3.micro",
    });
  });

  it("refuses to shrink the disk, changing nothing", async () => {
    const r = await cli("resize", "web1", "--cpus", "3", "--disk", "64M");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `vmctl: --disk 64M: smaller than web1's disk (${128 * MiB} bytes); a disk only grows\n`,
    );
    expect(info()["virtual-size"]).toBe(128 * MiB);
    expect(lv.virsh("dumpxml", "--inactive", "web1")).toMatch(/<vcpu placement='static'>1<\/vcpu>/);
  });

  it("refuses to change a running VM in one line, and lists its snapshots while it runs", async () => {
    await ok("snapshot", "create", "web1", "before");
    lv.virsh("start", "web1");
    for (const argv of [
      ["resize", "web1", "--cpus", "2"],
      ["snapshot", "create", "web1", "s2"],
      ["snapshot", "revert", "web1", "before"],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr).toMatch(
        /^vmctl: web1 is running: .* needs it shut off; stop it first \(vmctl stop web1\)\n$/,
      );
    }
    const list = JSON.parse(await ok("--json", "snapshot", "list", "web1")) as { name: string }[];
    expect(list.map((s) => s.name)).toEqual(["before"]);
    lv.virsh("destroy", "web1");
  });
});

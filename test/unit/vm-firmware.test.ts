import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DomainSpec, domainXml } from "../../vmctl/libvirt/domain-xml.js";
import { chooseBoot } from "../../vmctl/vm/boot-firmware.js";
import type { Image } from "../../vmctl/vm/images.js";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";
import { testDir } from "../helpers/test-dir.js";

const image = (over: Partial<Image>): Image => ({
  name: "img",
  file: "/img/img.qcow2",
  format: "qcow2",
  virtualSize: 2 ** 31,
  imported: "",
  ...over,
});

const spec = (over: Partial<DomainSpec>): DomainSpec => ({
  name: "web1",
  uuid: "ec2e1916-9099-4caf-bd21-012345abcdef",
  memoryMiB: 1024,
  vcpus: 2,
  disk: "/srv/h1/disks/web1.qcow2",
  bridge: "br-net1",
  mac: "52:54:00:ab:cd:ef",
  consoleLog: "/srv/h1/console/web1.log",
  identity: "ec2",
  virtType: "qemu",
  metadata: { network: "net1", addresses: ["10.10.10.11"], sshKeys: [] },
  ...over,
});

describe("boot firmware", () => {
  it("boots an image with both bootloaders with BIOS unless UEFI or secure boot is asked", () => {
    const both = image({ firmware: "bios+uefi" });
    expect(chooseBoot(both, {})).toEqual({ kind: "bios" });
    expect(chooseBoot(both, { firmware: "uefi" })).toEqual({ kind: "uefi", secureBoot: false });
    expect(chooseBoot(both, { secureBoot: true })).toEqual({ kind: "uefi", secureBoot: true });
    expect(chooseBoot(image({ firmware: "uefi" }), {})).toEqual({
      kind: "uefi",
      secureBoot: false,
    });
    // Unknown (an image recorded before vmctl read partition tables): what is asked.
    expect(chooseBoot(image({}), { firmware: "uefi" })).toEqual({
      kind: "uefi",
      secureBoot: false,
    });
    expect(chooseBoot(image({ kernel: "/img/k" }), {})).toEqual({ kind: "kernel" });
  });

  it("refuses a firmware the image cannot boot with, in one line naming the flag", () => {
    expect(() => chooseBoot(image({ firmware: "uefi" }), { firmware: "bios" })).toThrow(
      "--firmware bios: image img can only boot with UEFI (it has an EFI system partition and no BIOS boot code): use --firmware uefi",
    );
    expect(() => chooseBoot(image({ firmware: "bios" }), { secureBoot: true })).toThrow(
      "--firmware uefi: image img can only boot with BIOS (it has no EFI system partition): use --firmware bios",
    );
    expect(() => chooseBoot(image({}), { firmware: "bios", secureBoot: true })).toThrow(
      "--secure-boot needs --firmware uefi (BIOS has no secure boot)",
    );
    expect(() => chooseBoot(image({ firmware: "none" }), {})).toThrow(
      "image img has no bootloader (no partition table): import it again with --kernel and --initrd",
    );
    expect(() => chooseBoot(image({ kernel: "/img/k" }), { firmware: "uefi" })).toThrow(
      /^--firmware: image img boots by direct kernel boot/,
    );
  });

  it("asks libvirt for OVMF by its features on q35, with the VM's own NVRAM, SMM for secure boot", () => {
    const dir = testDir("domain-uefi-");
    for (const secureBoot of [false, true]) {
      const xml = domainXml(spec({ uefi: { secureBoot, nvram: "/srv/h1/nvram/web1.fd" } }));
      const on = secureBoot ? "yes" : "no";
      expect(xml).toContain(
        [
          "  <os firmware='efi'>",
          "    <type arch='x86_64' machine='q35'>hvm</type>",
          "    <firmware>",
          `      <feature enabled='${on}' name='secure-boot'/>`,
          `      <feature enabled='${on}' name='enrolled-keys'/>`,
          "    </firmware>",
          "    <nvram>/srv/h1/nvram/web1.fd</nvram>",
          "    <boot dev='hd'/>",
        ].join("\n"),
      );
      expect(xml.includes("<smm state='on'/>")).toBe(secureBoot);
      const file = join(dir, `uefi-${on}.xml`);
      writeFileSync(file, xml);
      const r = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
      expect(`exit ${r.status}: ${r.stderr}`).toMatch(/^exit 0: .* validates\n$/);
    }
    const bios = domainXml(spec({}));
    expect(bios).toContain("  <os>\n    <type arch='x86_64'>hvm</type>\n    <boot dev='hd'/>");
    expect(bios).not.toContain("nvram");
  });

  it("vmctl create refuses an image/firmware mismatch before anything is made", async () => {
    const t = fakeCluster();
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const rec = { name: "efi", file: "/img/efi.qcow2", format: "qcow2", virtualSize: 2 ** 31 };
    writeFileSync(
      join(t.d, "state/images/efi.json"),
      JSON.stringify({ ...rec, firmware: "uefi", imported: "" }),
    );
    t.clear();
    const before = t.stateFiles();
    const argv = ["create", "web1", "--net", "net1", "--image", "efi", "--no-wait"];
    expect(await t.vmctl(...argv, "--firmware", "bios")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: --firmware bios: image efi can only boot with UEFI (it has an EFI system partition and no BIOS boot code): use --firmware uefi",
    ]);
    expect(await t.vmctl(...argv, "--firmware", "efi")).toBe(2);
    expect(t.err.at(-1)).toMatch(/--firmware.*efi.*bios, uefi/);
    expect(t.mutations()).toEqual([]);
    expect(t.stateFiles()).toEqual(before);
  });

  it("vmctl delete undefines the domain with its NVRAM and removes a left-over one", async () => {
    const uuid = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8";
    const xml = vmDomainXml("web1", uuid, "10.10.10.3", "52:54:00:c6:d7:e8");
    const t = fakeCluster({ domains: [{ name: "web1", state: "running", xml }] });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    t.clear();
    expect(await t.vmctl("delete", "web1")).toBe(0);
    const m = t.mutations();
    expect(m).toContain("local: virsh -c qemu:///system -q undefine --nvram -- web1");
    expect(m).toContainEqual(expect.stringMatching(/rm -f -- \/srv\/h1\/nvram\/web1.fd$/));
  });
});

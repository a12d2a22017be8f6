import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { instanceFromDomainXml } from "../../lib/metadata-xml.js";
import { type DomainSpec, domainXml, ec2Uuid } from "../../vmctl/libvirt/domain-xml.js";
import { virtTypeFor } from "../../vmctl/libvirt/virt-type.js";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@b";
const FIXTURES = resolve(import.meta.dirname, "../fixtures");

function spec(over: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "web1",
    uuid: "ec2e1916-9099-4caf-bd21-012345abcdef",
    memoryMiB: 1024,
    vcpus: 2,
    disk: "/var/lib/vmctl/disks/web1.qcow2",
    boot: {
      kernel: "/var/lib/vmctl/images/deb/vmlinuz",
      initrd: "/var/lib/vmctl/images/deb/initrd.img",
      cmdline: "root=/dev/vda console=ttyS0",
    },
    bridge: "br-net1",
    mac: "52:54:00:AB:CD:EF",
    consoleLog: "/var/log/vmctl/web1.console.log",
    identity: "ec2",
    virtType: "qemu",
    metadata: {
      hostname: "web1",
      network: "net1",
      subnet: "10.10.10.0/24",
      addresses: ["10.10.10.11"],
      sshKeys: [{ name: "alice", key: KEY }],
      passwordHash: "$6$salt$hash",
    },
    ...over,
  };
}

const dir = mkdtempSync(join(tmpdir(), "domain-xml-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** libvirt's own schema check (libvirt-clients' virt-xml-validate, which runs xmllint). */
function validateWithLibvirt(xml: string): string {
  const file = join(dir, `d${Math.random().toString(16).slice(2)}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
  if (r.error) throw r.error;
  // It says "FILE validates" (on stderr) and exits 0, else prints the schema errors.
  return `exit ${r.status}: ${r.stdout}${r.stderr}`;
}

describe("domain XML", () => {
  it("passes libvirt's domain schema in every identity mode, with and without a kernel", () => {
    const plainUuid = "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f";
    const { boot: _, ...diskBoot } = spec({ identity: "plain", uuid: plainUuid, virtType: "kvm" });
    const openstack = spec({ identity: "openstack", uuid: plainUuid });
    for (const s of [spec(), spec({ identity: "plain", uuid: plainUuid }), openstack, diskBoot]) {
      expect(validateWithLibvirt(domainXml(s))).toMatch(/^exit 0: .* validates\n$/);
    }
  });

  it("fails libvirt's schema check on a broken document (the validator really validates)", () => {
    const broken = domainXml(spec()).replace("<vcpu>2</vcpu>", "<vcpu>two</vcpu>");
    expect(validateWithLibvirt(broken)).toMatch(/^exit [1-9]/);
  });

  it("renders the whole document exactly as the reviewed fixture", async () => {
    // Update deliberately with `vitest -u` after reading the diff.
    await expect(domainXml(spec())).toMatchFileSnapshot("../fixtures/domain-web1-ec2.xml");
  });

  it("gives the ec2 identity as SMBIOS system uuid and serial, both the domain UUID", () => {
    const xml = domainXml(spec());
    expect(xml).toContain("<uuid>ec2e1916-9099-4caf-bd21-012345abcdef</uuid>");
    expect(xml).toContain(
      [
        "  <sysinfo type='smbios'>",
        "    <system>",
        "      <entry name='uuid'>ec2e1916-9099-4caf-bd21-012345abcdef</entry>",
        "      <entry name='serial'>ec2e1916-9099-4caf-bd21-012345abcdef</entry>",
        "    </system>",
        "  </sysinfo>",
      ].join("\n"),
    );
    expect(xml).toContain("    <smbios mode='sysinfo'/>\n  </os>");
  });

  it("gives the openstack identity nova's SMBIOS product name, which cloud-init's OpenStack datasource looks for", () => {
    const xml = domainXml(
      spec({ identity: "openstack", uuid: "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f" }),
    );
    expect(xml).toContain("      <entry name='product'>OpenStack Nova</entry>\n");
    expect(xml).toContain(
      "      <entry name='uuid'>3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f</entry>\n",
    );
    expect(xml).not.toContain("<entry name='serial'>");
    expect(xml).toContain("    <smbios mode='sysinfo'/>\n  </os>");
  });

  it("gives the plain identity no sysinfo at all", () => {
    const xml = domainXml(
      spec({ identity: "plain", uuid: "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f" }),
    );
    expect(xml).not.toContain("sysinfo");
    expect(xml).not.toContain("smbios");
  });

  it("refuses the ec2 identity with a UUID that does not start with ec2", () => {
    expect(() => domainXml(spec({ uuid: "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f" }))).toThrow(
      /ec2 identity needs a UUID starting with "ec2"/,
    );
  });

  it("refuses a bad MAC, a bad name and a tiny memory size", () => {
    expect(() => domainXml(spec({ mac: "52:54:00:zz:00:01" }))).toThrow(/bad MAC/);
    expect(() => domainXml(spec({ name: "a b" }))).toThrow(/bad domain name/);
    expect(() => domainXml(spec({ memoryMiB: 16 }))).toThrow(/at least 64 MiB/);
  });

  it("boots the kernel directly with its command line, or from the disk without one", () => {
    const xml = domainXml(spec());
    expect(xml).toContain(
      [
        "    <kernel>/var/lib/vmctl/images/deb/vmlinuz</kernel>",
        "    <initrd>/var/lib/vmctl/images/deb/initrd.img</initrd>",
        "    <cmdline>root=/dev/vda console=ttyS0</cmdline>",
      ].join("\n"),
    );
    const { boot: _, ...noKernel } = spec();
    const disk = domainXml(noKernel);
    expect(disk).not.toContain("<kernel>");
    expect(disk).toContain("<boot dev='hd'/>");
  });

  it("plugs a virtio NIC with a lower-case MAC into the bridge and logs the serial console", () => {
    const xml = domainXml(spec());
    expect(xml).toContain(
      [
        "    <interface type='bridge'>",
        "      <mac address='52:54:00:ab:cd:ef'/>",
        "      <source bridge='br-net1'/>",
        "      <model type='virtio'/>",
        "    </interface>",
      ].join("\n"),
    );
    expect(xml).toContain("<log file='/var/log/vmctl/web1.console.log' append='off'/>");
    expect(xml).toContain("<source file='/var/lib/vmctl/disks/web1.qcow2'/>");
    expect(xml).toContain("<driver name='qemu' type='qcow2' discard='unmap'/>");
  });

  it("uses type kvm with the host CPU only when asked, else qemu", () => {
    expect(domainXml(spec())).toMatch(/^<domain type='qemu'>\n/);
    expect(domainXml(spec())).not.toContain("host-passthrough");
    const kvm = domainXml(spec({ virtType: "kvm" }));
    expect(kvm).toMatch(/^<domain type='kvm'>\n/);
    expect(kvm).toContain("<cpu mode='host-passthrough'/>");
  });

  it("carries the instance record that mdserver reads back unchanged", () => {
    const inst = instanceFromDomainXml(domainXml(spec()));
    expect(inst).toMatchObject({
      name: "web1",
      uuid: "ec2e1916-9099-4caf-bd21-012345abcdef",
      hostname: "web1",
      network: "net1",
      subnet: "10.10.10.0/24",
      addresses: ["10.10.10.11"],
      macs: ["52:54:00:ab:cd:ef"],
      sshKeys: [{ name: "alice", key: KEY }],
      passwordHash: "$6$salt$hash",
    });
  });

  it("escapes XML special characters in paths and the command line", () => {
    const xml = domainXml(
      spec({ disk: "/d/a&b.qcow2", boot: { kernel: "/k", cmdline: "x='<1>'" } }),
    );
    expect(xml).toContain("<source file='/d/a&amp;b.qcow2'/>");
    expect(xml).toContain("<cmdline>x=&apos;&lt;1&gt;&apos;</cmdline>");
    expect(validateWithLibvirt(xml)).toMatch(/^exit 0: .* validates\n$/);
  });

  it("escapes ' inside single-quoted attributes (a disk path with an apostrophe)", () => {
    const xml = domainXml(spec({ disk: "/d/o'brien.qcow2", consoleLog: "/l/it's.log" }));
    expect(xml).toContain("<source file='/d/o&apos;brien.qcow2'/>");
    expect(xml).toContain("<log file='/l/it&apos;s.log' append='off'/>");
    expect(validateWithLibvirt(xml)).toMatch(/^exit 0: .* validates\n$/);
  });

  it("reads back metadata values holding quotes exactly as written", () => {
    const key = `${KEY} o'neil "home"`;
    const xml = domainXml(spec({ metadata: { addresses: [], sshKeys: [{ name: "o'n", key }] } }));
    expect(instanceFromDomainXml(xml)?.sshKeys).toEqual([{ name: "o'n", key }]);
  });
});

describe("ec2 UUIDs", () => {
  it("start with ec2, are well-formed and differ each time", () => {
    const a = ec2Uuid();
    const b = ec2Uuid();
    expect(a).toMatch(/^ec2[0-9a-f]{5}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(ec2Uuid("3F6C1D2E-8A4B-4C7D-9E0F-1A2B3C4D5E6F")).toBe(
      "ec2c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f",
    );
  });
});

describe("virtualisation type", () => {
  const noVmx = readFileSync(join(FIXTURES, "cpuinfo-no-vmx.txt"), "utf8");
  const withVmx = noVmx.replace(/^flags\s*:/m, "flags\t\t: vmx");
  const withSvm = noVmx.replace(/^(flags\s*:.*)$/m, "$1 svm");

  it("is qemu on a machine with /dev/kvm but no vmx/svm flag (KVM-PVM, captured here)", () => {
    expect(virtTypeFor(noVmx, true)).toBe("qemu");
  });

  it("is kvm when the CPU has vmx or svm and /dev/kvm exists", () => {
    expect(virtTypeFor(withVmx, true)).toBe("kvm");
    expect(virtTypeFor(withSvm, true)).toBe("kvm");
  });

  it("is qemu without /dev/kvm whatever the flags say", () => {
    expect(virtTypeFor(withVmx, false)).toBe("qemu");
  });

  it("does not mistake a flag that merely contains the letters for vmx", () => {
    expect(virtTypeFor(noVmx.replace(/^flags\s*:/m, "flags\t\t: vmxfoo svmbar"), true)).toBe(
      "qemu",
    );
  });
});

import { randomUUID } from "node:crypto";
import { AppError } from "../../lib/errors.js";
import { escapeXml, type MetadataFields, renderMetadataElement } from "../../lib/metadata-xml.js";
import type { VirtType } from "./virt-type.js";

/**
 * How the guest's firmware identifies the machine, which decides how cloud-init talks to mdserver
 * (docs/cloud-init.md):
 * - `ec2`: SMBIOS system UUID and serial both `ec2…` and equal → cloud-init's platform `aws`,
 *   IMDSv2 (PUT /latest/api/token first), and no image change is needed to pick the Ec2
 *   datasource.
 * - `plain`: what libvirt gives by default → platform `unknown`, IMDSv1 only; the image must
 *   list Ec2 in `datasource_list` itself.
 * - `openstack`: SMBIOS product name `OpenStack Nova` → cloud-init's OpenStack datasource, which
 *   reads mdserver's /openstack/ tree (and takes its static network from network_data.json).
 */
export type Identity = "ec2" | "plain" | "openstack";

/** Direct kernel boot, for images without a bootloader. */
export interface KernelBoot {
  kernel: string;
  initrd?: string;
  cmdline?: string;
}

/**
 * Booting from the disk's own bootloader with UEFI firmware (OVMF) instead of SeaBIOS, picked
 * by libvirt from the host's firmware descriptors (/usr/share/qemu/firmware/*.json) by the
 * features asked for: secure boot on means Microsoft's keys enrolled (what signed shims need)
 * and SMM. The VM's own variable store (NVRAM) lives at `nvram`; libvirt fills it from the
 * firmware's template at the first start (docs/libvirt.md, "Disk-booted images").
 */
export interface UefiBoot {
  secureBoot: boolean;
  nvram: string;
}

export interface DomainSpec {
  name: string;
  uuid: string;
  memoryMiB: number;
  vcpus: number;
  /** The VM's own qcow2 overlay (never the shared base image). */
  disk: string;
  boot?: KernelBoot;
  /** With no `boot`: UEFI instead of BIOS. */
  uefi?: UefiBoot;
  /** The network's bridge the VM's NIC is plugged into. */
  bridge: string;
  /**
   * A tap vmctl created and plugged into the bridge itself (routes first, anti-spoofing rules):
   * libvirt then only opens it (`managed='no'`). Without it libvirt makes and plugs its own.
   */
  tap?: string;
  mac: string;
  /** Where everything the guest writes to its serial console goes (via virtlogd). */
  consoleLog: string;
  identity: Identity;
  virtType: VirtType;
  metadata: MetadataFields;
}

export class DomainSpecError extends AppError {
  constructor(message: string) {
    super("DOMAIN_SPEC", message);
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A random UUID whose first three hex digits are `ec2`: the AWS-shaped identity. */
export function ec2Uuid(uuid: string = randomUUID()): string {
  return `ec2${uuid.toLowerCase().slice(3)}`;
}

/** The libvirt domain XML for one VM. Pure: same spec, same string. */
export function domainXml(spec: DomainSpec): string {
  validate(spec);
  const x = escapeXml;
  const uuid = spec.uuid.toLowerCase();
  const lines = [
    `<domain type='${spec.virtType}'>`,
    `  <name>${x(spec.name)}</name>`,
    `  <uuid>${uuid}</uuid>`,
    "  <metadata>",
    renderMetadataElement(spec.metadata)
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n"),
    "  </metadata>",
    `  <memory unit='MiB'>${spec.memoryMiB}</memory>`,
    `  <vcpu>${spec.vcpus}</vcpu>`,
  ];
  if (spec.identity === "ec2") {
    // cloud-init compares system-uuid and system-serial-number: both must be the ec2 UUID.
    lines.push(
      "  <sysinfo type='smbios'>",
      "    <system>",
      `      <entry name='uuid'>${uuid}</entry>`,
      `      <entry name='serial'>${uuid}</entry>`,
      "    </system>",
      "  </sysinfo>",
    );
  } else if (spec.identity === "openstack") {
    // ds-identify and the OpenStack datasource look for nova's product name.
    lines.push(
      "  <sysinfo type='smbios'>",
      "    <system>",
      "      <entry name='manufacturer'>OpenStack Foundation</entry>",
      "      <entry name='product'>OpenStack Nova</entry>",
      `      <entry name='uuid'>${uuid}</entry>`,
      "    </system>",
      "  </sysinfo>",
    );
  }
  if (spec.uefi) {
    // OVMF's secure-boot builds are for q35 only (their descriptors say so); the plain one
    // runs on both: q35 for every UEFI guest, as virt-install does.
    const on = (b: boolean) => (b ? "yes" : "no");
    lines.push(
      "  <os firmware='efi'>",
      "    <type arch='x86_64' machine='q35'>hvm</type>",
      "    <firmware>",
      `      <feature enabled='${on(spec.uefi.secureBoot)}' name='secure-boot'/>`,
      `      <feature enabled='${on(spec.uefi.secureBoot)}' name='enrolled-keys'/>`,
      "    </firmware>",
      `    <nvram>${x(spec.uefi.nvram)}</nvram>`,
    );
  } else {
    lines.push("  <os>", "    <type arch='x86_64'>hvm</type>");
  }
  if (spec.boot) {
    lines.push(`    <kernel>${x(spec.boot.kernel)}</kernel>`);
    if (spec.boot.initrd) lines.push(`    <initrd>${x(spec.boot.initrd)}</initrd>`);
    if (spec.boot.cmdline) lines.push(`    <cmdline>${x(spec.boot.cmdline)}</cmdline>`);
  } else {
    lines.push("    <boot dev='hd'/>");
  }
  if (spec.identity !== "plain") lines.push("    <smbios mode='sysinfo'/>");
  lines.push(
    "  </os>",
    // Secure boot firmware keeps its variables safe from the OS in SMM (it requires it).
    `  <features><acpi/><apic/>${spec.uefi?.secureBoot ? "<smm state='on'/>" : ""}</features>`,
    // Under TCG the default CPU model is what QEMU emulates; with KVM pass the host CPU through.
    ...(spec.virtType === "kvm" ? ["  <cpu mode='host-passthrough'/>"] : []),
    "  <clock offset='utc'/>",
    "  <on_poweroff>destroy</on_poweroff>",
    "  <on_reboot>restart</on_reboot>",
    "  <on_crash>destroy</on_crash>",
    "  <devices>",
    "    <disk type='file' device='disk'>",
    "      <driver name='qemu' type='qcow2' discard='unmap'/>",
    `      <source file='${x(spec.disk)}'/>`,
    "      <target dev='vda' bus='virtio'/>",
    "    </disk>",
    ...nicXml(spec),
    // A pty (so `virsh console` works) whose output virtlogd also writes to the log file.
    "    <serial type='pty'>",
    `      <log file='${x(spec.consoleLog)}' append='off'/>`,
    "      <target port='0'/>",
    "    </serial>",
    "    <console type='pty'>",
    "      <target type='serial' port='0'/>",
    "    </console>",
    // Entropy for early-boot key generation, which is slow to gather under TCG.
    "    <rng model='virtio'>",
    "      <backend model='random'>/dev/urandom</backend>",
    "    </rng>",
    "  </devices>",
    "</domain>",
  );
  return `${lines.join("\n")}\n`;
}

function nicXml(spec: DomainSpec): string[] {
  const mac = `      <mac address='${spec.mac.toLowerCase()}'/>`;
  const model = "      <model type='virtio'/>";
  if (spec.tap) {
    return [
      "    <interface type='ethernet'>",
      mac,
      `      <target dev='${escapeXml(spec.tap)}' managed='no'/>`,
      model,
      "    </interface>",
    ];
  }
  return [
    "    <interface type='bridge'>",
    mac,
    `      <source bridge='${escapeXml(spec.bridge)}'/>`,
    model,
    "    </interface>",
  ];
}

function validate(spec: DomainSpec): void {
  if (spec.boot && spec.uefi)
    throw new DomainSpecError(`${spec.name}: direct kernel boot and UEFI firmware together`);
  const uuid = spec.uuid.toLowerCase();
  if (!UUID_RE.test(uuid)) throw new DomainSpecError(`${spec.name}: bad UUID ${spec.uuid}`);
  if (spec.identity === "ec2" && !uuid.startsWith("ec2"))
    throw new DomainSpecError(
      `${spec.name}: the ec2 identity needs a UUID starting with "ec2" (got ${spec.uuid})`,
    );
  if (!MAC_RE.test(spec.mac.toLowerCase()))
    throw new DomainSpecError(`${spec.name}: bad MAC ${spec.mac}`);
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 64)
    throw new DomainSpecError(`${spec.name}: memory must be at least 64 MiB`);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1)
    throw new DomainSpecError(`${spec.name}: vcpus must be a positive integer`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(spec.name))
    throw new DomainSpecError(`bad domain name ${JSON.stringify(spec.name)}`);
}

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MetadataFields } from "../../lib/metadata-xml.js";
import { domainXml, type Identity } from "../../vmctl/libvirt/domain-xml.js";
import type { VirtType } from "../../vmctl/libvirt/virt-type.js";
import type { TestLibvirtd } from "./libvirtd.js";
import { run } from "./md-netns.js";

export interface TestImage {
  base: string;
  kernel: string;
  initrd: string;
}

export interface GuestSpec {
  name: string;
  uuid: string;
  ip: string;
  mac: string;
  identity: Identity;
  vcpus: number;
  memoryMiB: number;
  metadata: MetadataFields;
}

/**
 * One real guest on a TestLibvirtd: its own qcow2 overlay on the cached base image, direct kernel
 * boot, serial console logged to a file. `dir` must be traversable by libvirt-qemu.
 */
export class TestGuest {
  readonly overlay: string;
  readonly consoleLog: string;
  private defined = false;
  private rebooted = false;

  constructor(
    readonly spec: GuestSpec,
    private readonly libvirtd: TestLibvirtd,
    private readonly image: TestImage,
    private readonly bridge: string,
    private readonly virtType: VirtType,
    private readonly dir: string,
  ) {
    this.overlay = join(dir, `${spec.name}.qcow2`);
    this.consoleLog = join(dir, `${spec.name}.console.log`);
  }

  /**
   * Boots the guest once more if its kernel panicked, at most once per guest; true if it did.
   * Seen once (2026-12-04): Debian 13's kernel 6.12.118 under TCG, 9 s into boot, "Fatal
   * exception in interrupt" in kfree, before any userspace ran (the next boots were fine). The
   * panicked console log is kept beside the new one (NAME.console.log.panic) and the test says so.
   */
  rebootAfterKernelPanic(): boolean {
    if (this.rebooted || !existsSync(this.consoleLog)) return false;
    if (!readFileSync(this.consoleLog, "utf8").includes("Kernel panic - not syncing")) return false;
    this.rebooted = true;
    try {
      this.libvirtd.virsh("destroy", this.spec.name);
    } catch {
      // a panicked guest may have stopped already
    }
    renameSync(this.consoleLog, `${this.consoleLog}.panic`);
    rmSync(this.overlay, { force: true });
    this.createOverlay();
    this.libvirtd.virsh("start", this.spec.name);
    return true;
  }

  private createOverlay(): void {
    run("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "qcow2",
      "-b",
      this.image.base,
      this.overlay,
    ]);
  }

  /** Creates the overlay, defines the domain and starts it. */
  start(): void {
    this.createOverlay();
    const xml = domainXml({
      name: this.spec.name,
      uuid: this.spec.uuid,
      memoryMiB: this.spec.memoryMiB,
      vcpus: this.spec.vcpus,
      disk: this.overlay,
      boot: {
        kernel: this.image.kernel,
        initrd: this.image.initrd,
        cmdline: "root=/dev/vda rw console=ttyS0",
      },
      bridge: this.bridge,
      mac: this.spec.mac,
      consoleLog: this.consoleLog,
      identity: this.spec.identity,
      virtType: this.virtType,
      metadata: this.spec.metadata,
    });
    const file = join(this.dir, `${this.spec.name}.xml`);
    writeFileSync(file, xml);
    this.libvirtd.virsh("define", file);
    this.defined = true;
    this.libvirtd.virsh("start", this.spec.name);
  }

  /** Destroys and undefines the domain (killing its QEMU by PID if libvirt cannot), drops disks. */
  remove(): string[] {
    const problems: string[] = [];
    const pidFile = `/run/libvirt/qemu/${this.spec.name}.pid`;
    const qemuPid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : 0;
    if (this.defined) {
      try {
        this.libvirtd.virsh("destroy", this.spec.name);
      } catch {
        // not running
      }
      try {
        this.libvirtd.virsh("undefine", this.spec.name);
        this.defined = false;
      } catch (err) {
        problems.push(`undefine ${this.spec.name}: ${String(err)}`);
      }
    }
    if (qemuPid > 0 && alive(qemuPid)) {
      problems.push(`QEMU ${qemuPid} of ${this.spec.name} survived destroy; killed`);
      process.kill(qemuPid, "SIGKILL");
    }
    rmSync(this.overlay, { force: true });
    return problems;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

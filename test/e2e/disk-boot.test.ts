import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { livePid } from "../helpers/dhcp-lab.js";
import { TestLibvirtd } from "../helpers/libvirtd.js";
import { run } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { budget } from "../helpers/wait.js";

/**
 * Disk-booted images through the vmctl CLI: the test image as a vendor cloud image is made (GPT,
 * GRUB in a BIOS boot partition, Debian's signed shim and GRUB on an ESP; build-test-image.sh
 * debian12-disk) boots from its own bootloader under SeaBIOS and under OVMF with secure boot,
 * gets its identity from mdserver, grows its root partition to --disk, and talks on ttyS0.
 * One guest per firmware, every check in it.
 */
const lab = new FabricLab();
const H1 = lab.hosts.host1;
const libvirtd = new TestLibvirtd(H1, { createNamespace: false });
const md = join(lab.dir, "host1-md");
const mdserver = new MdserverProcess(H1, join(lab.dir, "mdserver.conf"));
const key = join(lab.dir, "id_ed25519");
const BUILD_IMAGE = resolve(import.meta.dirname, "../helpers/build-test-image.sh");
const exec = promisify(execFile);
const within = budget(25 * 60_000);
const created = new Set<string>();
const DISK = 4 * 2 ** 30;

async function ok(args: string[]) {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

const sshIn = async (name: string, command: string) =>
  (await ok(["ssh", name, "-i", key, "--", command])).stdout;

beforeAll(async () => {
  const built = (await exec("bash", [BUILD_IMAGE, "debian12-disk"], { timeout: within(900_000) }))
    .stdout;
  const imageDir = built.trim().split("\n").pop() ?? "";
  lab.create();
  // QEMU runs as libvirt-qemu: it must be able to reach the disks under the lab directory.
  chmodSync(lab.dir, 0o755);
  mkdirSync(md);
  writeFileSync(
    lab.clusterFile,
    readFileSync(lab.clusterFile, "utf8")
      .replace(
        `    target: netns:${H1}\n    libvirt: qemu:///system\n`,
        `    target: netns:${H1}\n    libvirt: ${libvirtd.uri}\n    state-dir: ${lab.dir}/host1\n    mdserver-state-dir: ${md}\n`,
      )
      .replace(
        `    target: netns:${lab.hosts.host2}\n    libvirt: qemu:///system\n`,
        `    target: netns:${lab.hosts.host2}\n    libvirt: qemu:///system?socket=${lab.dir}/none\n    state-dir: ${lab.dir}/host2\n`,
      ),
  );
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e@vmctl", "-f", key]);
  await libvirtd.start();
  await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
  await ok(["host", "apply"]);
  await ok(["router", "apply"]);
  writeFileSync(
    join(lab.dir, "mdserver.conf"),
    `[mdserver]\nlibvirt-uri = ${libvirtd.uri}\nstate-dir = ${md}\nuserdata-dir = ${lab.dir}/none\n`,
  );
  await mdserver.start();
  const imported = await ok([
    "image",
    "import",
    "deb12disk",
    join(imageDir, "base.qcow2"),
    "--user",
    "debian",
  ]);
  // vmctl read the partition table: a BIOS boot partition and an ESP.
  expect(imported.stdout).toMatch(/boot bios\+uefi\)$/m);
}, 1_200_000);

afterAll(async () => {
  for (const name of created) {
    await vmctl(lab, ["delete", name]);
    for (const verb of [["destroy"], ["undefine", "--nvram"]]) {
      try {
        libvirtd.virsh(...verb, name);
      } catch {
        // gone already
      }
    }
  }
  const pidFile = join(lab.dir, "host1/dhcp/net1.pid");
  const pid = livePid(pidFile);
  if (pid !== undefined) process.kill(pid);
  await mdserver.stop();
  await libvirtd.stop();
  lab.destroy();
}, 180_000);

const GUESTS = [
  { name: "bios1", flags: ["--firmware", "bios"], uefi: false },
  { name: "sb1", flags: ["--firmware", "uefi", "--secure-boot"], uefi: true },
] as const;

describe.each(GUESTS)("a disk-booted guest ($name: $flags)", (g) => {
  const nvram = join(lab.dir, `host1/nvram/${g.name}.fd`);
  const consoleLog = join(lab.dir, `host1/console/${g.name}.log`);

  it("boots through its own bootloader and is ready", async () => {
    created.add(g.name);
    const r = await vmctl(lab, [
      "create",
      g.name,
      "--net",
      "net1",
      "--image",
      "deb12disk",
      ...g.flags,
      "--cpus",
      "2",
      "--memory",
      "1G",
      "--disk",
      "4G",
      "--ssh-key",
      `${key}.pub`,
      "--timeout",
      String(Math.round(within(480_000) / 1000)),
    ]);
    console.log(`vmctl create ${g.name}:\n${r.stderr}`);
    expect(r.stderr).toContain(g.uefi ? "UEFI boot, secure boot on" : "BIOS boot");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^${g.name} ready: 10\\.10\\.10\\.\\d+ on net1, host host1\n$`),
    );
  }, 600_000);

  it("takes its identity from mdserver and its firmware is the one asked for", async () => {
    expect((await sshIn(g.name, "hostname")).trim()).toBe(g.name);
    expect(await sshIn(g.name, "cloud-init status --long")).toMatch(/^status: done$/m);
    const efi = (await sshIn(g.name, "test -d /sys/firmware/efi && echo efi || echo bios")).trim();
    expect(efi).toBe(g.uefi ? "efi" : "bios");
    // The kernel reads the firmware's SecureBoot variable at start and says what it found.
    const dmesg = await sshIn(g.name, "sudo -n dmesg");
    if (g.uefi) {
      expect(dmesg).toMatch(/secureboot: Secure boot enabled/);
      // The VM's own variable store, libvirt's copy of the template, for QEMU only.
      expect(run("stat", ["-c", "%a %U", nvram]).trim()).toBe("600 libvirt-qemu");
    } else {
      expect(existsSync(nvram)).toBe(false);
    }
  }, 120_000);

  it("grows its root partition and file system to --disk", async () => {
    const disk = Number((await sshIn(g.name, "lsblk -bdno SIZE /dev/vda")).trim());
    expect(disk).toBe(DISK);
    expect((await sshIn(g.name, "findmnt -no SOURCE /")).trim()).toBe("/dev/vda3");
    const part = Number((await sshIn(g.name, "lsblk -bdno SIZE /dev/vda3")).trim());
    const fs = Number((await sshIn(g.name, "df -B1 --output=size / | tail -1")).trim());
    console.log(`${g.name}: disk ${disk}, root partition ${part}, root file system ${fs} bytes`);
    // From 2 GiB to what is left after the BIOS boot partition and the 32 MiB ESP.
    expect(part).toBeGreaterThan(DISK - 64 * 2 ** 20);
    expect(fs).toBeGreaterThan(3.5 * 2 ** 30);
  }, 60_000);

  it("has its console on ttyS0, which vmctl logs on the host", async () => {
    expect((await sshIn(g.name, "cat /sys/class/tty/console/active")).trim()).toBe("ttyS0");
    // GRUB put BOOT_IMAGE= on the command line (direct kernel boot has none).
    expect(await sshIn(g.name, "cat /proc/cmdline")).toMatch(
      /^BOOT_IMAGE=\/boot\/vmlinuz-\S+ root=UUID=\S+ ro console=ttyS0,115200n8$/m,
    );
    const log = readFileSync(consoleLog, "latin1");
    // The kernel's EFI stub prints through the firmware's console, which OVMF sends to the
    // serial port; GRUB's serial terminal first clears the screen (SeaBIOS and boot.img print
    // to a VGA this domain does not have).
    if (g.uefi) expect(log).toMatch(/EFI stub: UEFI Secure Boot is enabled/);
    else expect(log.startsWith("\x1b[H\x1b[J")).toBe(true);
    expect(log).toMatch(/Linux version 6\./);
    expect(log).toMatch(new RegExp(`${g.name} login:`));
  }, 60_000);

  it("reports where its first boot went (systemd-analyze)", async () => {
    const report = await sshIn(
      g.name,
      // systemd-analyze answers only once every start-up job is done (cloud-final may still
      // run), and only to root here: the image has no D-Bus, root uses systemd's private socket.
      "sudo -n systemctl is-system-running --wait >/dev/null; sudo -n systemd-analyze 2>&1; sudo -n systemd-analyze critical-chain --no-pager 2>&1; sudo -n systemd-analyze blame --no-pager 2>&1 | head -15",
    );
    console.log(`${g.name} first boot:\n${report}`);
    expect(report).toMatch(/^Startup finished in .*userspace/m);
  }, 60_000);

  it("is deleted with its NVRAM and disk", async () => {
    expect((await ok(["delete", g.name])).stdout).toBe(`${g.name}: deleted\n`);
    created.delete(g.name);
    expect(existsSync(nvram)).toBe(false);
    expect(existsSync(join(lab.dir, `host1/disks/${g.name}.qcow2`))).toBe(false);
    expect(libvirtd.virsh("list", "--all", "--name").trim()).toBe("");
  }, 120_000);
});

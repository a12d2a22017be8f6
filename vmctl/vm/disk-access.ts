import { cmd } from "../../lib/exec/command.js";

/**
 * Who may read VM disks: root and the user QEMU runs as, nobody else. Debian's libvirt runs
 * QEMU as libvirt-qemu:libvirt-qemu (qemu.conf `user`/`group` defaults). With its default
 * `dynamic_ownership = 1` libvirt also chowns a guest's overlay and the images of its backing
 * chain to that user while the guest runs and gives them back afterwards (`remember_owner`);
 * it never changes a file's mode. So the modes set here hold while guests run, and the files
 * are readable by QEMU even where dynamic_ownership is off.
 */
export const QEMU_USER = "libvirt-qemu";
export const QEMU_GROUP = "libvirt-qemu";

/**
 * A directory of images or disks: 0750 root:libvirt-qemu, so QEMU can reach the files and
 * nobody else can list or open them. `install -d` also sets the mode of a directory that
 * exists (an older vmctl made them 0755).
 */
export function privateDir(dir: string) {
  return cmd("install", ["-d", "-m", "0750", "-o", "root", "-g", QEMU_GROUP, "--", dir], true);
}

/** Base images, kernels, initrds: shared read-only by every guest, 0640 root:libvirt-qemu. */
export function baseImageAccess(files: string[]) {
  return [
    cmd("chown", [`root:${QEMU_GROUP}`, "--", ...files], true),
    cmd("chmod", ["0640", "--", ...files], true),
  ];
}

/** A guest's own overlay: QEMU writes it, 0600 libvirt-qemu:libvirt-qemu. */
export function overlayAccess(file: string) {
  return [
    cmd("chown", [`${QEMU_USER}:${QEMU_GROUP}`, "--", file], true),
    cmd("chmod", ["0600", "--", file], true),
  ];
}

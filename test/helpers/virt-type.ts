import { existsSync, readFileSync } from "node:fs";
import { type VirtType, virtTypeFor } from "../../vmctl/libvirt/virt-type.js";

/** This machine's virt type, for tests that boot a guest without vmctl. */
export function detectVirtType(): VirtType {
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "qemu";
  }
  return virtTypeFor(cpuinfo, existsSync("/dev/kvm"));
}

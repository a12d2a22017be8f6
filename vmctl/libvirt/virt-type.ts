import { existsSync, readFileSync } from "node:fs";

export type VirtType = "kvm" | "qemu";

/**
 * `kvm` only when the CPU really offers hardware virtualisation (vmx/svm in the flags) AND
 * /dev/kvm exists. docs/libvirt.md: some machines have a /dev/kvm (KVM-PVM) without vmx/svm, on
 * which stock guest kernels hang: the device node alone proves nothing. Otherwise `qemu` (TCG).
 */
export function virtTypeFor(cpuinfo: string, hasDevKvm: boolean): VirtType {
  if (!hasDevKvm) return "qemu";
  const hw = cpuinfo
    .split("\n")
    .filter((line) => /^flags\s*:/.test(line))
    .some((line) => /\s(vmx|svm)(\s|$)/.test(line));
  return hw ? "kvm" : "qemu";
}

/** Reads this machine's /proc/cpuinfo and /dev/kvm. */
export function detectVirtType(): VirtType {
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "qemu";
  }
  return virtTypeFor(cpuinfo, existsSync("/dev/kvm"));
}

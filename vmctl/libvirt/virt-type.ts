import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";

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

/** KVM only where the host's CPU really has it (/dev/kvm alone proves nothing, see above). */
export async function probeVirtType(run: Runner): Promise<VirtType> {
  const [cpuinfo, kvm] = await Promise.all([
    run.probe(cmd("cat", ["/proc/cpuinfo"])),
    run.probe(cmd("test", ["-c", "/dev/kvm"])),
  ]);
  return virtTypeFor(cpuinfo.stdout, kvm.exitCode === 0);
}

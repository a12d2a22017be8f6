import { AppError } from "../../lib/errors.js";
import { type Command, quote } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Instance } from "../../lib/instance.js";
import {
  instanceFromDomainXml,
  METADATA_NS,
  METADATA_PREFIX,
  metadataFieldsOf,
  renderMetadataForSet,
} from "../../lib/metadata-xml.js";
import type { VmContext } from "./create.js";
import { resizedInstanceType } from "./instance-type.js";
import { diskGrowCommand, requireShutOff } from "./overlay.js";
import { type Vm, virsh } from "./vms.js";

export interface ResizeRequest {
  cpus?: number;
  memoryMiB?: number;
  disk?: { bytes: number; text: string };
}

/** The domain's configured vCPUs and memory (`virsh dumpxml --inactive`). */
export interface DomainSize {
  /** `<vcpu current='N'>MAX</vcpu>`: current defaults to MAX. */
  vcpus: number;
  maxVcpus: number;
  memoryKiB: number;
  maxMemoryKiB: number;
}

const KIB: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  kib: 1,
  k: 1,
  mib: 1024,
  m: 1024,
  gib: 2 ** 20,
  g: 2 ** 20,
};

function kib(xml: string, tag: string): number | undefined {
  const m = new RegExp(`<${tag}(?: unit='(\\w+)')?[^>]*>(\\d+)</${tag}>`).exec(xml);
  if (!m) return undefined;
  return Number(m[2]) * (KIB[(m[1] ?? "KiB").toLowerCase()] ?? 1);
}

/** Pure: the sizes in a domain's XML as libvirt prints it. */
export function parseDomainSize(xml: string): DomainSize {
  const v = /<vcpu\b([^>]*)>(\d+)<\/vcpu>/.exec(xml);
  const maxMemoryKiB = kib(xml, "memory");
  if (!v || maxMemoryKiB === undefined)
    throw new AppError("LIBVIRT", "the domain's XML has no <vcpu> or <memory> (virsh dumpxml)");
  const maxVcpus = Number(v[2]);
  const current = /current='(\d+)'/.exec(v[1] ?? "");
  return {
    vcpus: current ? Number(current[1]) : maxVcpus,
    maxVcpus,
    memoryKiB: kib(xml, "currentMemory") ?? maxMemoryKiB,
    maxMemoryKiB,
  };
}

/**
 * Pure: the `--config` commands that make the domain's vCPUs and memory exactly what is asked
 * (current = maximum, as create defines them). libvirt refuses a current value above the
 * maximum, so the maximum is raised before and lowered after the current value.
 */
export function resizeCommands(
  vm: Vm,
  size: DomainSize,
  req: { cpus?: number; memoryMiB?: number },
): Command | undefined {
  // One virsh run for all of them (one connection, over qemu+ssh one handshake); virsh splits
  // `A; B` as a shell does, so the name is shell-quoted (vms.ts does the same for dumpxml).
  const set = (verb: string, value: number, extra: string[] = []) =>
    [verb, "--config", ...extra, "--", quote(vm.instance.name), String(value)].join(" ");
  const out: string[] = [];
  const pair = (
    want: number,
    cur: number,
    max: number,
    setMax: () => string,
    setCur: () => string,
  ) => {
    if (want === cur && want === max) return;
    if (want > max) out.push(setMax());
    if (want !== cur) out.push(setCur());
    if (want < max) out.push(setMax());
  };
  if (req.cpus !== undefined) {
    const n = req.cpus;
    pair(
      n,
      size.vcpus,
      size.maxVcpus,
      () => set("setvcpus", n, ["--maximum"]),
      () => set("setvcpus", n),
    );
  }
  if (req.memoryMiB !== undefined) {
    const k = req.memoryMiB * 1024;
    pair(
      k,
      size.memoryKiB,
      size.maxMemoryKiB,
      () => set("setmaxmem", k),
      () => set("setmem", k),
    );
  }
  return out.length ? virsh(vm.host, [out.join("; ")], true) : undefined;
}

/**
 * Pure: the virsh command that writes the VM's record back with another instance type.
 * `metadata --set` replaces the whole element of our namespace (there is no per-field edit),
 * so the record goes as read from the definition it replaces. One argument carries it, user-data
 * included: Linux takes 128 KiB per argument, mdserver serves at most 16 KiB of user-data.
 */
export function instanceTypeCommand(vm: Vm, record: Instance, instanceType: string): Command {
  const xml = renderMetadataForSet({ ...metadataFieldsOf(record), instanceType });
  const name = vm.instance.name;
  const args = ["metadata", "--config", "--key", METADATA_PREFIX, "--set", xml];
  return virsh(vm.host, [...args, "--", name, METADATA_NS], true);
}

/**
 * Offline resize of a vmctl VM: vCPUs and memory in its libvirt definition, the instance type
 * its record carries (see resizedInstanceType), the disk's virtual size in its overlay (grow
 * only). Returns one line per change, or none when all is as asked. The guest grows its root
 * filesystem at its next boot (cloud-init's growpart and resize_rootfs).
 */
export async function resizeVm(vm: Vm, req: ResizeRequest, ctx: VmContext): Promise<string[]> {
  const name = vm.instance.name;
  if (req.cpus === undefined && req.memoryMiB === undefined && req.disk === undefined)
    throw new AppError("USAGE", `resize ${name}: give --cpus, --memory or --disk`);
  requireShutOff(vm, "resize");
  const run: Runner = ctx.fabric.runnerFor(vm.host.target);
  const xml = await ctx.virsh.run(virsh(vm.host, ["dumpxml", "--inactive", "--", name]));
  const size = parseDomainSize(xml.stdout);
  // The record of the definition that is changed (for a shut-off domain, the one listed).
  const record = instanceFromDomainXml(xml.stdout) ?? vm.instance;
  const cpus = req.cpus ?? size.vcpus;
  const memoryMiB = req.memoryMiB ?? Math.round(size.memoryKiB / 1024);
  const type = resizedInstanceType(record.instanceType, cpus, memoryMiB);
  // Everything is read and checked (a shrink refused) before anything changes.
  const grow = req.disk ? await diskGrowCommand(run, vm, req.disk) : undefined;
  const batch = resizeCommands(vm, size, req);
  const lines: string[] = [];
  if (batch) {
    // virsh goes on after a failed command of a batch and exits with the last one's status:
    // its stderr tells. The definition first: the disk, checked already, is the last step.
    const r = await ctx.virsh.run(batch);
    const error = r.stderr.split("\n").find((l) => l.startsWith("error:"));
    if (error) throw new AppError("LIBVIRT", `${name}: ${error}`, r.stderr);
  }
  // A virsh run of its own, once the sizes are set: in the batch it would run after a failed
  // setvcpus too, and mdserver would serve a size the domain does not have. If it fails, the
  // record keeps the old type, and the next resize (even to the same size) sets it.
  if (type) await ctx.virsh.run(instanceTypeCommand(vm, record, type));
  if (grow) {
    await run.run(grow);
    lines.push(`disk → ${req.disk?.text}`);
  }
  if (req.cpus !== undefined && req.cpus !== size.vcpus)
    lines.push(`cpus ${size.vcpus} → ${req.cpus}`);
  if (req.memoryMiB !== undefined && req.memoryMiB * 1024 !== size.memoryKiB)
    lines.push(`memory ${size.memoryKiB / 1024} MiB → ${req.memoryMiB} MiB`);
  if (type) lines.push(`instance type ${record.instanceType} → ${type}`);
  return lines;
}

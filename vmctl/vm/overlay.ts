import { AppError, lastLine } from "../../lib/errors.js";
import { type Command, cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { type Vm, vmPaths } from "./vms.js";

/** A VM's qcow2 overlay on its host, as `qemu-img info --output=json` describes it. */
export interface OverlayInfo {
  virtualSize: number;
  snapshots: SnapshotInfo[];
}

export interface SnapshotInfo {
  id: string;
  name: string;
  /** ISO time the snapshot was taken. */
  date: string;
  /** Bytes of saved RAM: 0 for vmctl's offline snapshots. */
  vmStateSize: number;
}

/** Pure: qemu-img info's JSON of an overlay. */
export function parseOverlayInfo(json: string): OverlayInfo {
  const info = JSON.parse(json) as {
    "virtual-size"?: number;
    snapshots?: {
      id?: string;
      name?: string;
      "date-sec"?: number;
      "vm-state-size"?: number;
    }[];
  };
  return {
    virtualSize: info["virtual-size"] ?? 0,
    snapshots: (info.snapshots ?? []).map((s) => ({
      id: s.id ?? "",
      name: s.name ?? "",
      date: new Date((s["date-sec"] ?? 0) * 1000).toISOString(),
      vmStateSize: s["vm-state-size"] ?? 0,
    })),
  };
}

/**
 * Reads the overlay's header. `-U` (force-share) lets this read the disk of a running VM, whose
 * QEMU holds the image lock; it only ever reads here.
 */
export async function readOverlay(run: Runner, vm: Vm): Promise<OverlayInfo> {
  const disk = vmPaths(vm.host, vm.instance.name).disk;
  const r = await run.probe(cmd("qemu-img", ["info", "-U", "--output=json", "--", disk]));
  if (r.exitCode !== 0)
    throw new AppError(
      "NO_DISK",
      `${vm.instance.name}: cannot read its disk ${disk} on ${vm.host.name} (${lastLine(r.stderr)})`,
    );
  return parseOverlayInfo(r.stdout);
}

/**
 * Changes that rewrite the overlay or the domain's definition run only on a shut-off VM: qemu-img
 * must not write an image a running QEMU has open (QEMU's image lock refuses it anyway), and
 * `virsh setvcpus/setmem --config` would take effect only at the next boot while `vmctl show`
 * reported the new value at once.
 */
export function requireShutOff(vm: Vm, what: string): void {
  if (vm.state === "shut off") return;
  const name = vm.instance.name;
  throw new AppError(
    "RUNNING",
    `${name} is ${vm.state}: ${what} needs it shut off; stop it first (vmctl stop ${name})`,
  );
}

const SNAPSHOT_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;

/**
 * qemu-img finds a snapshot by id OR name, so a name of digits could select another snapshot
 * by its id: names start with a letter. qemu-img also accepts a second snapshot of one name,
 * which revert could not tell apart, so vmctl refuses that (createSnapshot).
 */
export function checkSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name))
    throw new AppError(
      "INVALID",
      `snapshot name ${name}: up to 63 letters, digits and _ . -, starting with a letter`,
    );
}

function snapshotCommand(vm: Vm, flag: "-c" | "-a" | "-d", name: string) {
  const disk = vmPaths(vm.host, vm.instance.name).disk;
  return cmd("qemu-img", ["snapshot", flag, name, "--", disk], true);
}

function findSnapshot(info: OverlayInfo, vm: Vm, name: string): SnapshotInfo {
  const s = info.snapshots.find((x) => x.name === name);
  if (!s)
    throw new AppError(
      "NOT_FOUND",
      `${vm.instance.name} has no snapshot ${name} (see: vmctl snapshot list ${vm.instance.name})`,
    );
  return s;
}

/** Internal qcow2 snapshot of the overlay: the base image is read-only and never changes. */
export async function createSnapshot(run: Runner, vm: Vm, name: string): Promise<void> {
  checkSnapshotName(name);
  requireShutOff(vm, "a snapshot");
  const info = await readOverlay(run, vm);
  if (info.snapshots.some((s) => s.name === name))
    throw new AppError("EXISTS", `${vm.instance.name} already has a snapshot ${name}`);
  await run.run(snapshotCommand(vm, "-c", name));
}

/** Puts the overlay back as it was, its virtual size included (qcow2 stores it per snapshot). */
export async function revertSnapshot(run: Runner, vm: Vm, name: string): Promise<void> {
  checkSnapshotName(name);
  requireShutOff(vm, "revert");
  findSnapshot(await readOverlay(run, vm), vm, name);
  await run.run(snapshotCommand(vm, "-a", name));
}

export async function deleteSnapshot(run: Runner, vm: Vm, name: string): Promise<void> {
  checkSnapshotName(name);
  requireShutOff(vm, "deleting a snapshot");
  findSnapshot(await readOverlay(run, vm), vm, name);
  await run.run(snapshotCommand(vm, "-d", name));
}

/**
 * The command that grows the overlay's virtual size to `bytes`, undefined when it has that size;
 * refuses to shrink (the guest's filesystem would be cut). Reads only: the caller runs it.
 */
export async function diskGrowCommand(
  run: Runner,
  vm: Vm,
  disk: { bytes: number; text: string },
): Promise<Command | undefined> {
  const info = await readOverlay(run, vm);
  const name = vm.instance.name;
  if (disk.bytes < info.virtualSize)
    throw new AppError(
      "INVALID",
      `--disk ${disk.text}: smaller than ${name}'s disk (${info.virtualSize} bytes); a disk only grows`,
    );
  if (disk.bytes === info.virtualSize) return undefined;
  const file = vmPaths(vm.host, name).disk;
  return cmd("qemu-img", ["resize", "-q", "-f", "qcow2", "--", file, String(disk.bytes)], true);
}

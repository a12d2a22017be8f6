/**
 * The instance type vmctl gives a VM (served by mdserver as `instance-type`, shown by `vmctl
 * show`): its size, `c2m2048` for 2 vCPUs and 2048 MiB. `create` writes it, `resize` keeps it
 * equal to the size.
 */
export function sizeInstanceType(cpus: number, memoryMiB: number): string {
  return `c${cpus}m${memoryMiB}`;
}

const SIZE_TYPE = /^c\d+m\d+$/;

/**
 * Pure: the type a VM's record should carry once it has `cpus` and `memoryMiB`, or undefined
 * to leave the record as it is. Only a type of vmctl's own form is vmctl's to change (stale
 * ones too: a VM resized by a vmctl that did not update it). Any other type was written by
 * someone else (no vmctl flag sets one; a hand-written record does), and its name is theirs,
 * not a size vmctl can recompute; a record with none gets mdserver's configured default.
 */
export function resizedInstanceType(
  current: string | undefined,
  cpus: number,
  memoryMiB: number,
): string | undefined {
  if (current === undefined || !SIZE_TYPE.test(current)) return undefined;
  const want = sizeInstanceType(cpus, memoryMiB);
  return want === current ? undefined : want;
}

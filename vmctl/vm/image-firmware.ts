import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { type ImageFileInfo, qemuSource } from "./image-file.js";

/**
 * What firmware can boot an image, read from its partition table:
 * - GPT: an EFI System Partition → UEFI can boot it; a BIOS boot partition (where GRUB puts
 *   its core image on GPT) → BIOS can boot it. Vendor cloud images have both.
 * - MBR only: a partition of type 0xEF → UEFI; boot code in the first 440 bytes → BIOS.
 * - No partition table: `none` (a bare file system: direct kernel boot only).
 * This says what the disk carries, not that its bootloader works; 512-byte sectors assumed.
 */
export type Firmware = "bios+uefi" | "uefi" | "bios" | "none";

const SECTOR = 512;
/** The MBR, the GPT header and 128 entries of 128 bytes: what vendor images use. */
const READ_BYTES = 34 * SECTOR;
const ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const BIOS_BOOT = "21686148-6449-6e6f-744e-656564454649";

export async function detectFirmware(
  runner: Runner,
  file: string,
  info: ImageFileInfo,
): Promise<Firmware> {
  const bytes = Math.min(READ_BYTES, info.virtualSize);
  if (bytes < SECTOR) return "none";
  // qemu-io reads through the format driver (a qcow2's guest view) and prints to stdout:
  // nothing is written anywhere, so this is also what --dry-run runs. It refuses to read past
  // the end of a disk: hence at most its size.
  const read = cmd("qemu-io", ["-r", "-c", `read -v 0 ${bytes}`, qemuSource(file, info.format)]);
  const r = await runner.run(read);
  return firmwareOf(parseHexDump(r.stdout));
}

/** qemu-io's `read -v` lines: `00000010:  00 01 ... 0f  ascii`. */
export function parseHexDump(text: string): Buffer {
  const bytes: number[] = [];
  for (const line of text.split("\n")) {
    const m = /^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ){1,16})/.exec(line);
    if (!m?.[1]) continue;
    for (const h of m[1].trim().split(" ")) bytes.push(Number.parseInt(h, 16));
  }
  return Buffer.from(bytes);
}

export function firmwareOf(disk: Buffer): Firmware {
  if (disk.length < SECTOR || disk.readUInt16LE(510) !== 0xaa55) return "none";
  const mbrTypes = [0, 1, 2, 3].map((i) => disk[446 + i * 16 + 4] ?? 0);
  const gpt = mbrTypes.includes(0xee) && disk.toString("latin1", 512, 520) === "EFI PART";
  let uefi: boolean;
  let bios: boolean;
  if (gpt) {
    const types = gptTypes(disk);
    uefi = types.includes(ESP);
    bios = types.includes(BIOS_BOOT);
  } else {
    uefi = mbrTypes.includes(0xef);
    bios = disk.subarray(0, 440).some((b) => b !== 0);
  }
  if (uefi && bios) return "bios+uefi";
  return uefi ? "uefi" : bios ? "bios" : "none";
}

function gptTypes(disk: Buffer): string[] {
  const header = SECTOR;
  const entriesAt = Number(disk.readBigUInt64LE(header + 72)) * SECTOR;
  const count = disk.readUInt32LE(header + 80);
  const size = disk.readUInt32LE(header + 84);
  const types: string[] = [];
  if (size < 16) return types;
  for (let i = 0; i < count; i++) {
    const at = entriesAt + i * size;
    if (at + 16 > disk.length) break;
    types.push(guid(disk.subarray(at, at + 16)));
  }
  return types;
}

/** GPT GUIDs: the first three fields little-endian, the rest as stored. */
function guid(b: Buffer): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = [...b.subarray(from, to)];
    return (reverse ? part.reverse() : part).map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return [
    hex(0, 4, true),
    hex(4, 6, true),
    hex(6, 8, true),
    hex(8, 10, false),
    hex(10, 16, false),
  ].join("-");
}

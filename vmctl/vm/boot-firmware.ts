import { AppError } from "../../lib/errors.js";
import type { Firmware } from "./image-firmware.js";
import type { Image } from "./images.js";

/** How a VM starts: the image's kernel given to QEMU, or the disk's own bootloader. */
export type BootMode =
  | { kind: "kernel" }
  | { kind: "bios" }
  | { kind: "uefi"; secureBoot: boolean };

export interface FirmwareRequest {
  /** --firmware */
  firmware?: "bios" | "uefi";
  /** --secure-boot */
  secureBoot?: boolean;
}

const CAN: Record<"bios" | "uefi", Firmware[]> = {
  bios: ["bios", "bios+uefi"],
  uefi: ["uefi", "bios+uefi"],
};

/**
 * Picks the boot for an image and the user's flags, or says in one line why not. An image that
 * carries both bootloaders boots with BIOS unless asked (as virt-install's default); one whose
 * firmware need is unknown (imported before vmctl read partition tables) gets what is asked.
 * Whether secure boot works depends on the image's bootloader being signed, which only the
 * boot shows (the console says "Access Denied" or shim's "Verification failed").
 */
export function chooseBoot(image: Image, req: FirmwareRequest): BootMode {
  const asked = req.firmware ?? (req.secureBoot ? "uefi" : undefined);
  if (image.kernel) {
    if (asked !== undefined)
      throw new AppError(
        "INVALID",
        `--${req.firmware ? "firmware" : "secure-boot"}: image ${image.name} boots by direct kernel boot (it was imported with --kernel); firmware choice is for images that boot from their own disk`,
      );
    return { kind: "kernel" };
  }
  if (req.secureBoot && asked === "bios")
    throw new AppError("INVALID", "--secure-boot needs --firmware uefi (BIOS has no secure boot)");
  const has = image.firmware;
  if (has === "none")
    throw new AppError(
      "INVALID",
      `image ${image.name} has no bootloader (no partition table): import it again with --kernel and --initrd`,
    );
  const kind = asked ?? (has === "uefi" ? "uefi" : "bios");
  if (has !== undefined && !CAN[kind].includes(has))
    throw new AppError(
      "INVALID",
      `--firmware ${kind}: image ${image.name} can only boot with ${has === "uefi" ? "UEFI (it has an EFI system partition and no BIOS boot code): use --firmware uefi" : "BIOS (it has no EFI system partition): use --firmware bios"}`,
    );
  return kind === "uefi" ? { kind, secureBoot: req.secureBoot ?? false } : { kind };
}

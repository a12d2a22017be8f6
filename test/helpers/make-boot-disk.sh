#!/usr/bin/env bash
# Makes a bootable GPT disk image from a root file system tree, as vendor cloud images are laid
# out, with no loop device, no mount and no root-only kernel feature (docs/libvirt.md, "Disk-booted
# images"):
#   partition 1  BIOS boot (1 MiB)   GRUB's core.img, which boot.img in the MBR loads (SeaBIOS)
#   partition 2  ESP (FAT, 32 MiB)   /EFI/BOOT/BOOTX64.EFI = Debian's signed shim, grubx64.efi =
#                                    Debian's signed GRUB (OVMF, secure boot off or on)
#   partition 3  root (ext4, last)   so cloud-init's growpart can grow it to the disk's size
# Usage: make-boot-disk.sh ROOTFS WORKDIR   → WORKDIR/base.qcow2
# Needs (Debian): gdisk, mtools, grub-pc-bin, grub-efi-amd64-signed, shim-signed, e2fsprogs,
# qemu-utils.
set -euo pipefail
root=$1
work=$2

SECTOR=512
BIOS_START=2048 BIOS_SECTORS=2048          # 1 MiB
ESP_START=4096 ESP_SECTORS=65536           # 32 MiB
ROOT_START=69632 ROOT_SECTORS=4194304      # 2 GiB
# One MiB after the root partition: room for the backup GPT (33 sectors) and alignment.
DISK_SECTORS=$((ROOT_START + ROOT_SECTORS + 2048))

uuid=$(cat /proc/sys/kernel/random/uuid)
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=$(cd "$root/boot" && ls initrd.img-* | sort -V | tail -1)

echo "UUID=$uuid / ext4 rw,discard,errors=remount-ro 0 1" >"$root/etc/fstab"

# One GRUB configuration on the root file system for both firmwares. The serial terminal and
# console=ttyS0 put GRUB, the kernel and systemd on the serial console that vmctl logs;
# timeout 0: nothing waits for a key press.
mkdir -p "$root/boot/grub"
cat >"$root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry 'Debian GNU/Linux' {
	search --no-floppy --fs-uuid --set=root $uuid
	linux /boot/$kernel root=UUID=$uuid ro console=ttyS0,115200n8
	initrd /boot/$initrd
}
EOF
# What grub-install copies: BIOS GRUB's core.img loads normal.mod and the rest from here.
cp -r /usr/lib/grub/i386-pc "$root/boot/grub/"
rm -f "$root/boot/grub/i386-pc/"*.img

echo "make-boot-disk: root file system (ext4, $((ROOT_SECTORS / 2048)) MiB)"
truncate -s $((ROOT_SECTORS * SECTOR)) "$work/root.part"
mkfs.ext4 -q -L root -U "$uuid" -d "$root" "$work/root.part"

# BIOS: core.img finds the root file system by its UUID and reads the rest from /boot/grub.
cat >"$work/early.cfg" <<EOF
search.fs_uuid $uuid root
set prefix=(\$root)/boot/grub
EOF
grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -c "$work/early.cfg" -p /boot/grub \
  -o "$work/core.img" biosdisk part_gpt ext2 search_fs_uuid
core_sectors=$((($(stat -c %s "$work/core.img") + SECTOR - 1) / SECTOR))
[ "$core_sectors" -le "$BIOS_SECTORS" ] || {
  echo "make-boot-disk: core.img ($core_sectors sectors) does not fit" >&2
  exit 1
}

# UEFI: shim (signed by Microsoft's UEFI CA, as OVMF_VARS_4M.ms.fd trusts) loads grubx64.efi
# from its own directory; Debian's signed GRUB, finding no /EFI/debian, sources
# $cmdpath/grub.cfg, which hands over to the root file system's grub.cfg.
cat >"$work/esp-grub.cfg" <<EOF
search.fs_uuid $uuid root
set prefix=(\$root)/boot/grub
configfile \$prefix/grub.cfg
EOF
truncate -s $((ESP_SECTORS * SECTOR)) "$work/esp.part"
mformat -i "$work/esp.part" -T "$ESP_SECTORS" -h 64 -s 32 -v ESP ::
mmd -i "$work/esp.part" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.part" /usr/lib/shim/shimx64.efi.signed ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.part" /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed ::/EFI/BOOT/grubx64.efi
mcopy -i "$work/esp.part" "$work/esp-grub.cfg" ::/EFI/BOOT/grub.cfg

echo "make-boot-disk: GPT disk ($((DISK_SECTORS / 2048)) MiB)"
disk="$work/disk.raw"
truncate -s $((DISK_SECTORS * SECTOR)) "$disk"
sgdisk --clear \
  -n "1:$BIOS_START:$((BIOS_START + BIOS_SECTORS - 1))" -t 1:ef02 -c 1:bios \
  -n "2:$ESP_START:$((ESP_START + ESP_SECTORS - 1))" -t 2:ef00 -c 2:esp \
  -n "3:$ROOT_START:$((ROOT_START + ROOT_SECTORS - 1))" -t 3:8300 -c 3:root \
  "$disk" >/dev/null
put() { dd if="$1" of="$disk" bs=1M seek=$(($2 * SECTOR)) oflag=seek_bytes conv=notrunc,sparse status=none; }
put "$work/root.part" "$ROOT_START"
put "$work/esp.part" "$ESP_START"
put "$work/core.img" "$BIOS_START"

# What grub-bios-setup does for a core.img embedded in a BIOS boot partition, by hand:
# - boot.img's code (its first 440 bytes; the partition table after it stays sgdisk's);
# - boot.img at 0x5c: the LBA of core.img's first sector (diskboot.img), 64-bit LE;
# - boot.img at 0x66: the drive check jump replaced by two NOPs (a hard disk, not a floppy);
# - diskboot.img's blocklist, the last 12 bytes of its sector: start LBA of the rest of
#   core.img (64-bit) and its length in sectors (16-bit; grub-mkimage filled it in) and the
#   load segment (16-bit, kept). grub-mkimage leaves the start at 2 (core.img right after the
#   MBR); it is at BIOS_START + 1 here.
le64() {
  local v=$1 i out=""
  for i in 0 1 2 3 4 5 6 7; do
    out+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255)))
  done
  printf '%b' "$out"
}
dd if=/usr/lib/grub/i386-pc/boot.img of="$disk" bs=440 count=1 conv=notrunc status=none
le64 "$BIOS_START" | dd of="$disk" bs=1 seek=$((0x5c)) conv=notrunc status=none
printf '\x90\x90' | dd of="$disk" bs=1 seek=$((0x66)) conv=notrunc status=none
le64 $((BIOS_START + 1)) | dd of="$disk" bs=1 seek=$((BIOS_START * SECTOR + 0x1f4)) conv=notrunc status=none

qemu-img convert -f raw -O qcow2 "$disk" "$work/base.qcow2"
rm -f "$disk" "$work/root.part" "$work/esp.part"

#!/usr/bin/env bash
# Builds an e2e test cloud image (docs/libvirt.md, docs/cloud-init.md) and prints the
# directory holding it: base.qcow2, vmlinuz, initrd.img (direct kernel boot: the image has no
# bootloader and no partition table; root=/dev/vda), or for the -disk variant base.qcow2 alone.
#
# Variants (first argument):
#   debian12   (default) Debian 12 with cloud-init 22.4: the guests of the lifecycle tests.
#   debian13   Debian 13 with cloud-init 25 and what the packages need at run time (Node.js
#              20, libvirt's client, dnsmasq): the guest that installs the .deb and runs its
#              units under real systemd.
#   debian12-disk  The debian12 system as a vendor cloud image is made: a GPT disk booted by its
#              own GRUB from BIOS (BIOS boot partition) or UEFI (ESP with Debian's signed shim
#              and GRUB, so secure boot works too), root partition last so cloud-init grows it;
#              NoCloud also listed, for the seed-ISO baseline of bench/boot-bench.sh. Built
#              with no loop device and no mount (make-boot-disk.sh).
#
# Cached under $CACHE (default /var/cache/mdserver-test) by a key made of this script's own
# content (which holds the package list and the image config), so a rerun takes ~0 s.
# Files are world-readable: QEMU runs as libvirt-qemu and must open them.
set -euo pipefail

CACHE=${MDSERVER_TEST_CACHE:-/var/cache/mdserver-test}
VARIANT=${1:-debian12}
PACKAGES=(
  systemd-sysv udev iproute2 cloud-init openssh-server sudo
  linux-image-cloud-amd64 initramfs-tools netbase
  # ping, for the reachability checks of the e2e tests.
  iputils-ping
)
HOOKS=()
EXTRA_CFG=""
case "$VARIANT" in
debian12)
  SUITE=bookworm
  # cloud-init renders its fallback network (DHCP on the first NIC) as ifupdown (eni) here,
  # and its Ec2Local stage (aws identity) runs dhclient for an ephemeral lease.
  PACKAGES+=(ifupdown isc-dhcp-client)
  ;;
debian13)
  SUITE=trixie
  # As Debian 13's own cloud images: systemd-networkd renders the network (cloud-init's
  # networkd renderer when ifupdown is absent), dhcpcd gives Ec2Local its ephemeral lease.
  # The .deb's dependencies, so that it installs offline; curl to ask the installed mdserver.
  PACKAGES+=(dhcpcd-base nodejs adduser libvirt-clients dnsmasq-base curl)
  # resize2fs of this image's whole-disk ext4 fails under Debian 13's cloud-init (not looked
  # into; the disk is not grown anyway): without this the boot ends "degraded".
  EXTRA_CFG="resize_rootfs: false"
  HOOKS+=(--customize-hook='chroot "$1" systemctl enable systemd-networkd')
  ;;
debian12-disk)
  SUITE=bookworm
  PACKAGES+=(ifupdown isc-dhcp-client)
  # growpart (cloud-init's growpart module) grows the root partition to the disk's size.
  PACKAGES+=(cloud-guest-utils fdisk)
  ;;
*)
  echo "build-test-image: unknown variant $VARIANT (debian12, debian13, debian12-disk)" >&2
  exit 2
  ;;
esac

DISK_HELPER="$(dirname "$0")/make-boot-disk.sh"
key=$(cat "$0" "$DISK_HELPER" | sha256sum | cut -c1-16)
out="$CACHE/$VARIANT-$key"
if [ -f "$out/done" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$CACHE"
chmod 0755 "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
# Another run may have built it while we waited for the lock.
if [ -f "$out/done" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"

echo "build-test-image: mmdebstrap $SUITE into $root" >&2
mmdebstrap --variant=minbase --quiet \
  --aptopt='APT::Install-Recommends "false"' \
  --include="$(
    IFS=,
    echo "${PACKAGES[*]}"
  )" \
  "${HOOKS[@]}" \
  "$SUITE" "$root" >&2

# ds-identify reads datasource_list only in this one-line form (docs/cloud-init.md).
cat >"$root/etc/cloud/cloud.cfg.d/90-mdserver-test.cfg" <<'EOF'
datasource_list: [ DATASOURCES ]
datasource:
  Ec2:
    strict_id: false
    metadata_urls: ['http://169.254.169.254']
# Debian's locale-gen fails without this and cloud-init then ends in "error".
locale: C.UTF-8
# This image renders ENI (ifupdown). A guest without the ec2 identity finds its datasource only
# at init-network, after networking.service brought the NIC up; cloud-init 22.4 then re-applies
# the metadata's (identical) DHCP config and runs `ifup ens2`, whose "already configured" on
# stderr it logs as a WARNING. The NIC is up already: skip that second activation.
disable_network_activation: true
EOF
if [ "$VARIANT" = debian12-disk ]; then ds="NoCloud, Ec2, None"; else ds="Ec2, None"; fi
sed -i "s/DATASOURCES/$ds/" "$root/etc/cloud/cloud.cfg.d/90-mdserver-test.cfg"
[ -z "$EXTRA_CFG" ] || echo "$EXTRA_CFG" >>"$root/etc/cloud/cloud.cfg.d/90-mdserver-test.cfg"
# No ssh_genkeytypes limit: phone_home reads every host key type it knows and logs a warning
# for each missing file (a "degraded" boot), so the guest generates them all (~9 s under TCG).

# The guest's identity comes from metadata, never from the build host.
: >"$root/etc/resolv.conf"
echo localhost >"$root/etc/hostname"
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
mkdir -p "$out"

if [ "$VARIANT" = debian12-disk ]; then
  bash "$DISK_HELPER" "$root" "$work" >&2
  mv "$work/base.qcow2" "$out/"
  chmod 0755 "$out"
  chmod 0644 "$out"/*
  touch "$out/done"
  echo "build-test-image: built $out" >&2
  echo "$out"
  exit 0
fi

echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

truncate -s 2G "$work/root.raw"
mkfs.ext4 -q -L root -d "$root" "$work/root.raw"
qemu-img convert -f raw -O qcow2 "$work/root.raw" "$work/base.qcow2"

mv "$work/base.qcow2" "$work/vmlinuz" "$work/initrd.img" "$out/"
chmod 0755 "$out"
chmod 0644 "$out"/*
touch "$out/done"
echo "build-test-image: built $out" >&2
echo "$out"

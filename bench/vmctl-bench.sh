#!/usr/bin/env bash
# vmctl benchmarks (not tests), side by side in one run on the namespace lab of test/e2e/lab.sh.
# As root from the repository root:  bash bench/vmctl-bench.sh   (needs virtinst for virt-install)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d) && chmod 0755 "$work"
source test/e2e/lab.sh
trap lab_down EXIT
ROUNDS=${ROUNDS:-3}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
lab_up
echo "node $(node --version), virt-install $(virt-install --version), $(date -u +%FT%TZ), $(nproc) cores"

echo
echo "## vmctl create --no-wait vs virt-install --import --noautoconsole (same image, ${ROUNDS} rounds alternating)"
: > "$work/vmctl.ms"; : > "$work/virt-install.ms"
for i in $(seq "$ROUNDS"); do
  t=$(ms); vmctl create "b$i" --net net1 --image debian12 --cpus 2 --memory 1G --no-wait >/dev/null 2>&1; echo $(( $(ms) - t )) >> "$work/vmctl.ms"
  vmctl delete "b$i" >/dev/null 2>&1
  t=$(ms)
  qemu-img create -q -f qcow2 -F qcow2 -b "$work/state/images/debian12.qcow2" "$work/vi$i.qcow2"
  virt-install --connect "$lab_uri" --name "vi$i" --memory 1024 --vcpus 2 --import \
    --disk "path=$work/vi$i.qcow2,format=qcow2,bus=virtio" --network bridge=br-net1,model=virtio \
    --boot "kernel=$lab_image/vmlinuz,initrd=$lab_image/initrd.img,kernel_args=root=/dev/vda console=ttyS0" \
    --virt-type qemu --osinfo detect=on,require=off --graphics none --noautoconsole >/dev/null 2>&1
  echo $(( $(ms) - t )) >> "$work/virt-install.ms"
  virsh -c "$lab_uri" destroy "vi$i" >/dev/null; virsh -c "$lab_uri" undefine "vi$i" >/dev/null; rm -f "$work/vi$i.qcow2"
done
v=$(median < "$work/vmctl.ms"); w=$(median < "$work/virt-install.ms")
echo "| command | runs (ms) | median ms |"
echo "|---|---|---|"
echo "| vmctl create --no-wait (disk, tap, filters, port, DHCP, define, start) | $(paste -sd' ' "$work/vmctl.ms") | $v |"
echo "| qemu-img create + virt-install --import --noautoconsole (define, start) | $(paste -sd' ' "$work/virt-install.ms") | $w |"
echo "vmctl / virt-install: $(awk -v a="$v" -v b="$w" 'BEGIN {printf "%.2f", a / b}')"

echo
echo "## Boot to ready: vmctl create (waits: running, DHCP lease, first metadata request, phone_home, ssh)"
t=$(ms)
vmctl create ready1 --net net1 --image debian12 --cpus 2 --memory 1G --ssh-key "$work/id_ed25519.pub" 2>&1 | grep -E "ready1: (domain|DHCP|first|boot|ssh)" | sed 's/^/    /'
echo "total wall time: $(( $(ms) - t )) ms"
vmctl delete ready1 >/dev/null 2>&1

echo
echo "## vmctl list with 50 defined domains (not running), median of 5"
for i in $(seq 50); do
  uuid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$work/d.xml" <<XML
<domain type='qemu'><name>list$i</name><uuid>$uuid</uuid><memory unit='MiB'>128</memory>
<metadata><vmctl:instance xmlns:vmctl="urn:vmctl:instance:1"><vmctl:network>net1</vmctl:network>
<vmctl:ip>10.10.11.$i</vmctl:ip><vmctl:image>debian12</vmctl:image></vmctl:instance></metadata>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
  virsh -c "$lab_uri" define "$work/d.xml" >/dev/null
done
: > "$work/list.ms"
for _ in $(seq 5); do t=$(ms); vmctl list >/dev/null; echo $(( $(ms) - t )) >> "$work/list.ms"; done
echo "vmctl list, $(vmctl list | tail -n +2 | wc -l) VMs: runs $(paste -sd' ' "$work/list.ms") ms, median $(median < "$work/list.ms") ms (goal < 1000)"

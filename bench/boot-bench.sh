#!/usr/bin/env bash
# Boot to ready, side by side in one run on the namespace lab of test/e2e/lab.sh (not a test):
#   kernel   vmctl create --image debian12 (direct kernel boot), identity from mdserver
#   disk     vmctl create --image deb12disk (the same system as a GPT disk, GRUB, SeaBIOS)
#   uefi     vmctl create --image deb12disk --firmware uefi (shim + GRUB, OVMF, secure boot off)
#   seed     the baseline: qemu-img overlay of the same disk image + virt-install --import + a
#            NoCloud seed ISO (xorriso) with the same user-data, on a bridge of its own with a
#            plain dnsmasq (DHCP only), as an admin without mdserver would boot it
# Every kind gets the same user-data (the login key, manage_etc_hosts), 2 vCPUs, 1 GiB, and
# "ready" means the same for all: an ssh login with that key works and `cloud-init status`
# says done, polled from the host every 0.5 s, timed from just before the create command.
# In the first round each guest also reports systemd-analyze (time, critical-chain, blame) and
# how long it ran before its kernel (wall time to ready minus the guest's uptime then).
# As root from the repository root:  ROUNDS=2 KINDS="kernel disk uefi seed" bash bench/boot-bench.sh
# Needs virtinst (virt-install) and xorriso besides .ci/setup's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d) && chmod 0755 "$work"
source test/e2e/lab.sh
ROUNDS=${ROUNDS:-2}
KINDS=${KINDS:-kernel disk uefi seed}
ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seed_dnsmasq=""
cleanup() {
  [ -z "$seed_dnsmasq" ] || kill "$seed_dnsmasq" 2>/dev/null || true
  lab_down
}
trap cleanup EXIT
lab_up
disk_image=$(bash test/helpers/build-test-image.sh debian12-disk | tail -1)
vmctl image import deb12disk "$disk_image/base.qcow2" --user debian >/dev/null
echo "node $(node --version), $(virt-install --version 2>/dev/null | sed 's/^/virt-install /'), $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

key=$(cat "$work/id_ed25519.pub")
printf '#cloud-config\nmanage_etc_hosts: true\nssh_authorized_keys:\n  - %s\n' "$key" >"$work/user-data"

# The baseline's network: a bridge in the host namespace with a dnsmasq that only does DHCP.
ip -n "$h1" link add brb type bridge
ip -n "$h1" addr add 10.99.0.1/24 dev brb
ip -n "$h1" link set brb up
ip netns exec "$h1" dnsmasq --keep-in-foreground --port=0 --interface=brb --bind-interfaces \
  --dhcp-range=10.99.0.10,10.99.0.99,1h --dhcp-leasefile="$work/seed.leases" \
  --dhcp-host=52:54:00:99:00:10,10.99.0.10 --log-facility="$work/seed-dnsmasq.log" &
seed_dnsmasq=$!

guest_ssh() {
  ip netns exec "$h1" ssh -i "$work/id_ed25519" -o BatchMode=yes -o ConnectTimeout=2 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "debian@$1" "$2"
}

# Waits until ssh works and cloud-init is done; prints the ms since $2.
wait_ready() {
  local ip=$1 t0=$2
  for _ in $(seq 1200); do
    if guest_ssh "$ip" "cloud-init status" 2>/dev/null | grep -q "^status: done"; then
      echo $(($(ms) - t0))
      return 0
    fi
    sleep 0.5
  done
  echo "boot-bench: $ip not ready after 600 s" >&2
  return 1
}

report() {
  local name=$1 ip=$2 wall=$3
  local up
  up=$(guest_ssh "$ip" "cut -d' ' -f1 /proc/uptime")
  echo "### $name: ready after $wall ms; guest uptime then ${up} s, so $((wall - ${up%.*} * 1000)) ms (±1 s) before its kernel started (QEMU, firmware, bootloader)"
  # systemd-analyze answers only once every start-up job is done, and only to root here (the
  # image has no D-Bus; root uses systemd's private socket).
  guest_ssh "$ip" "sudo -n systemctl is-system-running --wait >/dev/null; sudo -n systemd-analyze 2>&1; sudo -n systemd-analyze critical-chain --no-pager 2>&1; sudo -n systemd-analyze blame --no-pager 2>&1 | head -12" | sed 's/^/    /'
}

boot() {
  local kind=$1 name=$2 round=$3 t0 ip wall
  t0=$(ms)
  case "$kind" in
  kernel | disk | uefi)
    local image=debian12 extra=()
    [ "$kind" = kernel ] || image=deb12disk
    [ "$kind" != uefi ] || extra=(--firmware uefi)
    ip=$(vmctl --json create "$name" --net net1 --image "$image" "${extra[@]}" --cpus 2 --memory 1G \
      --disk 4G --user-data "$work/user-data" --no-wait | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).ip))')
    ;;
  seed)
    mkdir -p "$work/seed-$name"
    printf 'instance-id: %s\nlocal-hostname: %s\n' "$(cat /proc/sys/kernel/random/uuid)" "$name" >"$work/seed-$name/meta-data"
    cp "$work/user-data" "$work/seed-$name/user-data"
    xorriso -as mkisofs -quiet -V cidata -J -r -o "$work/$name-seed.iso" "$work/seed-$name"
    qemu-img create -q -f qcow2 -F qcow2 -b "$disk_image/base.qcow2" "$work/$name.qcow2" 4G
    virt-install --connect "$lab_uri" --name "$name" --memory 1024 --vcpus 2 --import \
      --disk "path=$work/$name.qcow2,format=qcow2,bus=virtio" \
      --disk "path=$work/$name-seed.iso,device=cdrom" \
      --network bridge=brb,model=virtio,mac=52:54:00:99:00:10 \
      --virt-type qemu --osinfo detect=on,require=off --graphics none --noautoconsole \
      --serial "file,path=$work/$name.console.log" >/dev/null
    ip=10.99.0.10
    ;;
  esac
  wall=$(wait_ready "$ip" "$t0")
  echo "$wall" >>"$work/$kind.ms"
  [ "$round" != 1 ] || report "$kind ($name)" "$ip" "$wall" >>"$work/report.txt"
  if [ "$kind" = seed ]; then
    virsh -c "$lab_uri" destroy "$name" >/dev/null
    virsh -c "$lab_uri" undefine "$name" >/dev/null
    rm -f "$work/$name.qcow2" "$work/$name-seed.iso"
    # The next baseline guest gets the same address from a fresh dnsmasq lease.
    kill "$seed_dnsmasq" && wait "$seed_dnsmasq" 2>/dev/null || true
    : >"$work/seed.leases"
    ip netns exec "$h1" dnsmasq --keep-in-foreground --port=0 --interface=brb --bind-interfaces \
      --dhcp-range=10.99.0.10,10.99.0.99,1h --dhcp-leasefile="$work/seed.leases" \
      --dhcp-host=52:54:00:99:00:10,10.99.0.10 --log-facility="$work/seed-dnsmasq.log" &
    seed_dnsmasq=$!
  else
    vmctl delete "$name" >/dev/null
  fi
}

for i in $(seq "$ROUNDS"); do
  for kind in $KINDS; do
    boot "$kind" "$kind$i" "$i"
    echo "round $i $kind: $(tail -1 "$work/$kind.ms") ms" >&2
  done
done

echo
echo "| kind | runs (ms) | median ms | / seed |"
echo "|---|---|---|---|"
base=$( [ -f "$work/seed.ms" ] && median <"$work/seed.ms" || echo "")
for kind in $KINDS; do
  m=$(median <"$work/$kind.ms")
  ratio=$([ -n "$base" ] && awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}' || echo "-")
  echo "| $kind | $(paste -sd' ' "$work/$kind.ms") | $m | $ratio |"
done
echo
cat "$work/report.txt"

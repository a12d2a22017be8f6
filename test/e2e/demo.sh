#!/usr/bin/env bash
# The main job on a fresh machine, as root, without touching its real network: a real Debian 12
# cloud image boots under libvirt, created by vmctl on the proxy-ARP fabric, gets its identity
# from mdserver, and vmctl ssh prints its hostname. Everything lives in network namespaces
# (a router and a host with its own libvirtd) that are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/vmctl/main.js ] || npm run build --silent

id="demo$$"
rt="$id-rt" h1="$id-h1"
work=$(mktemp -d) && chmod 0755 "$work"   # QEMU (libvirt-qemu) must reach the VM's disk
vmctl() { node dist/vmctl/main.js --cluster "$work/cluster.yaml" --state-dir "$work/state" "$@"; }
pids=()
cleanup() {
  set +e
  vmctl delete demo1 >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$h1" 2>/dev/null
  ip netns del "$rt" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "test image (Debian 12 + cloud-init, built once with mmdebstrap and cached)"
image=$(bash test/helpers/build-test-image.sh | tail -1)

step "namespaces: router $rt and host $h1 on a LAN 198.18.0.0/24 (no way out)"
ip netns add "$rt"; ip netns add "$h1"
ip -n "$rt" link set lo up; ip -n "$h1" link set lo up
ip link add eth0 netns "$rt" type veth peer eth0 netns "$h1"
ip -n "$rt" addr add 198.18.0.1/24 dev eth0; ip -n "$rt" link set eth0 up
ip -n "$h1" addr add 198.18.0.11/24 dev eth0; ip -n "$h1" link set eth0 up
ip -n "$rt" link add up0 type bridge; ip -n "$rt" link set up0 up   # an uplink to nowhere

step "libvirtd inside $h1 (private socket), virtlogd"
mkdir -p "$work/libvirt/sock"
printf 'unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' "$work/libvirt/sock" > "$work/libvirt/libvirtd.conf"
if [ -c /dev/kvm ] && [ "$(stat -c %a /dev/kvm)" = 600 ]; then chgrp kvm /dev/kvm; chmod 0660 /dev/kvm; fi
if ! { [ -f /run/virtlogd.pid ] && kill -0 "$(cat /run/virtlogd.pid)" 2>/dev/null; }; then
  virtlogd 2>"$work/virtlogd.log" & pids+=($!)
fi
ip netns exec "$h1" libvirtd --config "$work/libvirt/libvirtd.conf" 2>"$work/libvirtd.log" & pids+=($!)
uri="qemu:///system?socket=$work/libvirt/sock/libvirt-sock"
for _ in $(seq 100); do [ -S "$work/libvirt/sock/libvirt-sock" ] && break; sleep 0.1; done

cat > "$work/cluster.yaml" <<YAML
hosts:
  - name: host1
    address: 198.18.0.11
    lan: eth0
    target: netns:$h1
    libvirt: $uri
    state-dir: $work/host1
    mdserver-state-dir: $work/mdserver
router:
  name: router
  address: 198.18.0.1
  lan: eth0
  uplink: up0
  target: netns:$rt
YAML

step "vmctl net create net1 --subnet 10.10.10.0/24; host apply; router apply"
vmctl net create net1 --subnet 10.10.10.0/24
vmctl host apply >/dev/null
vmctl router apply >/dev/null

step "mdserver on 169.254.169.254 in $h1, following libvirt"
printf '[mdserver]\nlibvirt-uri = %s\nstate-dir = %s\nuserdata-dir = %s\n' "$uri" "$work/mdserver" "$work/none" > "$work/mdserver.conf"
ip netns exec "$h1" node dist/mdserver/main.js --config "$work/mdserver.conf" > "$work/mdserver.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q '"mdserver listening"' "$work/mdserver.log" && break; sleep 0.1; done

step "vmctl image import debian12 ... --user debian"
vmctl image import debian12 "$image/base.qcow2" --kernel "$image/vmlinuz" --initrd "$image/initrd.img" --user debian

step "vmctl create demo1 --net net1 --image debian12 --ssh-key ... (TCG here: about a minute)"
ssh-keygen -q -t ed25519 -N "" -C demo@vmctl -f "$work/id_ed25519"
vmctl create demo1 --net net1 --image debian12 --cpus 2 --memory 1G --ssh-key "$work/id_ed25519.pub"
vmctl list

step "vmctl ssh demo1 -- hostname   (host key pinned from the guest's first boot)"
vmctl ssh demo1 -i "$work/id_ed25519" -- hostname
vmctl ssh demo1 -i "$work/id_ed25519" -- cloud-init status --long | head -3

step "mdserver's requests from the guest (first five of $(grep -c '"instance":"demo1"' "$work/mdserver.log"))"
grep '"instance":"demo1"' "$work/mdserver.log" | head -5

step "vmctl delete demo1"
vmctl delete demo1

#!/usr/bin/env bash
# The main job on a fresh machine, as root, without touching its real network: a real Debian 12
# cloud image boots under libvirt, created by vmctl on the proxy-ARP fabric, gets its identity
# from mdserver, and vmctl ssh prints its hostname. Everything lives in network namespaces
# (a router and a host with its own libvirtd) that are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d) && chmod 0755 "$work"   # QEMU (libvirt-qemu) must reach the VM's disk
source test/e2e/lab.sh
trap lab_down EXIT
step() { printf '\n== %s\n' "$*"; }

step "setting up: test image (built once, cached), router + host namespaces, libvirtd, mdserver, net1"
lab_up
vmctl net list

step "vmctl create demo1 --net net1 --image debian12 --ssh-key ... (TCG here: about a minute)"
vmctl create demo1 --net net1 --image debian12 --cpus 2 --memory 1G --ssh-key "$work/id_ed25519.pub"
vmctl list

step "vmctl ssh demo1 -- hostname   (host key pinned from the guest's first boot)"
vmctl ssh demo1 -i "$work/id_ed25519" -- hostname
vmctl ssh demo1 -i "$work/id_ed25519" -- cloud-init status --long | head -3

step "mdserver's requests from the guest (first five of $(grep -c '"instance":"demo1"' "$work/mdserver.log"))"
grep '"instance":"demo1"' "$work/mdserver.log" | head -5

step "vmctl delete demo1"
vmctl delete demo1

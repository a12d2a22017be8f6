# Sourced by test/e2e/demo.sh and bench/vmctl-bench.sh: a router and one host in network
# namespaces (LAN 198.18.0.0/24, no way out), a libvirtd of its own inside the host on a private
# socket, mdserver on 169.254.169.254 there, a cluster file, net1 applied, the test image
# imported. lab_down removes all of it (processes by the PIDs it started).
# Needs: $work (a 0755 directory), run from the repository root, as root.

lab_id="lab$$"
rt="$lab_id-rt" h1="$lab_id-h1"
lab_pids=()

vmctl() { node dist/vmctl/main.js --cluster "$work/cluster.yaml" --state-dir "$work/state" "$@"; }

lab_up() {
  [ -f dist/vmctl/main.js ] || npm run build --silent
  lab_image=$(bash test/helpers/build-test-image.sh | tail -1)
  ip netns add "$rt"; ip netns add "$h1"
  ip -n "$rt" link set lo up; ip -n "$h1" link set lo up
  ip link add eth0 netns "$rt" type veth peer eth0 netns "$h1"
  ip -n "$rt" addr add 198.18.0.1/24 dev eth0; ip -n "$rt" link set eth0 up
  ip -n "$h1" addr add 198.18.0.11/24 dev eth0; ip -n "$h1" link set eth0 up
  ip -n "$rt" link add up0 type bridge; ip -n "$rt" link set up0 up   # an uplink to nowhere

  mkdir -p "$work/libvirt/sock"
  printf 'unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' "$work/libvirt/sock" > "$work/libvirt/libvirtd.conf"
  # docs/libvirt.md: without udev /dev/kvm is root-only and libvirt re-probes QEMU on every call.
  if [ -c /dev/kvm ] && [ "$(stat -c %a /dev/kvm)" = 600 ]; then chgrp kvm /dev/kvm; chmod 0660 /dev/kvm; fi
  if ! { [ -f /run/virtlogd.pid ] && kill -0 "$(cat /run/virtlogd.pid)" 2>/dev/null; }; then
    virtlogd 2>"$work/virtlogd.log" & lab_pids+=($!)
  fi
  ip netns exec "$h1" libvirtd --config "$work/libvirt/libvirtd.conf" 2>"$work/libvirtd.log" & lab_pids+=($!)
  lab_uri="qemu:///system?socket=$work/libvirt/sock/libvirt-sock"
  for _ in $(seq 100); do [ -S "$work/libvirt/sock/libvirt-sock" ] && break; sleep 0.1; done

  cat > "$work/cluster.yaml" <<YAML
hosts:
  - name: host1
    address: 198.18.0.11
    lan: eth0
    target: netns:$h1
    libvirt: $lab_uri
    state-dir: $work/host1
    mdserver-state-dir: $work/mdserver
router:
  name: router
  address: 198.18.0.1
  lan: eth0
  uplink: up0
  target: netns:$rt
YAML
  vmctl net create net1 --subnet 10.10.10.0/24 >/dev/null
  vmctl host apply >/dev/null
  vmctl router apply >/dev/null

  printf '[mdserver]\nlibvirt-uri = %s\nstate-dir = %s\nuserdata-dir = %s\n' "$lab_uri" "$work/mdserver" "$work/none" > "$work/mdserver.conf"
  ip netns exec "$h1" node dist/mdserver/main.js --config "$work/mdserver.conf" > "$work/mdserver.log" 2>&1 & lab_pids+=($!)
  for _ in $(seq 100); do grep -q '"mdserver listening"' "$work/mdserver.log" && break; sleep 0.1; done

  vmctl image import debian12 "$lab_image/base.qcow2" --kernel "$lab_image/vmlinuz" \
    --initrd "$lab_image/initrd.img" --user debian >/dev/null
  ssh-keygen -q -t ed25519 -N "" -C lab@vmctl -f "$work/id_ed25519"
}

lab_down() {
  set +e
  for name in $(virsh -c "$lab_uri" list --all --name 2>/dev/null); do
    virsh -c "$lab_uri" destroy "$name" >/dev/null 2>&1
    virsh -c "$lab_uri" undefine --nvram "$name" >/dev/null 2>&1
  done
  [ -f "$work/host1/dhcp/net1.pid" ] && kill "$(cat "$work/host1/dhcp/net1.pid")" 2>/dev/null
  for p in "${lab_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$h1" 2>/dev/null
  ip netns del "$rt" 2>/dev/null
  rm -rf "$work"
}

#!/usr/bin/env bash
# The main job, on a fresh machine, without touching its real network: a VM (a network
# namespace standing in for a guest) boots cloud-init's EC2 datasource against mdserver on
# 169.254.169.254 and gets its identity. Everything lives in namespaces removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/mdserver/main.js ] || npm run build --silent
id="demo$$"
srv="$id-host" vm="$id-web1" work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$vm" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The host: a bridge with the gateway and the metadata address; the VM on a veth.
ip netns add "$srv"; ip netns add "$vm"
ip -n "$srv" link set lo up
ip -n "$srv" link add br0 type bridge
ip -n "$srv" addr add 10.10.10.1/24 dev br0
ip -n "$srv" addr add 169.254.169.254/32 dev br0
ip -n "$srv" link set br0 up
ip link add "v$id" netns "$srv" type veth peer eth0 netns "$vm"
ip -n "$srv" link set "v$id" master br0 up
ip -n "$vm" link set lo up
ip -n "$vm" addr add 10.10.10.11/24 dev eth0
ip -n "$vm" link set eth0 up
ip -n "$vm" route add default via 10.10.10.1

ssh-keygen -q -t ed25519 -N "" -C demo@mdserver -f "$work/id"
cat > "$work/instances.yaml" <<YAML
instances:
  - name: web1
    ip: 10.10.10.11
    uuid: 6d1f4e2a-9b3c-4d5e-8f70-1a2b3c4d5e6f
    mac: "52:54:00:10:10:11"
    ssh-keys: {demo: "$(cat "$work/id.pub")"}
YAML
cat > "$work/mdserver.conf" <<CONF
[mdserver]
state-dir = $work/state
password = demo-password
libvirt = no
instances-file = $work/instances.yaml
userdata-dir = $work/userdata
CONF

ip netns exec "$srv" node dist/mdserver/main.js --config "$work/mdserver.conf" > "$work/mdserver.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q '"mdserver listening"' "$work/mdserver.log" && break; sleep 0.1; done

echo "== cloud-init (Debian's DataSourceEc2) in the VM namespace asks mdserver:"
ip netns exec "$vm" /usr/bin/python3 test/helpers/ec2-client.py --max-wait 20 2>/dev/null > "$work/result.json"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!r.found) { console.log("cloud-init found NO datasource"); process.exit(1); }
  console.log(`instance-id:    ${r.instance_id}`);
  console.log(`local-hostname: ${r.local_hostname}`);
  console.log(`ssh keys:       ${r.public_keys.length} (${r.public_keys.map((k) => k.split(" ").pop()).join(", ")})`);
  console.log(`user-data:\n${r.userdata.replace(/^/gm, "  ")}`);
' "$work/result.json"
echo "== mdserver log (one JSON line per request):"
grep '"request"' "$work/mdserver.log" | head -5
echo "   ... $(grep -c '"request"' "$work/mdserver.log") requests in all"

#!/usr/bin/env bash
# vmctl image pull vs curl of the same file from the same local HTTP server, in one run.
# The server (test/helpers/image-http-server.mjs) and both clients run inside a network
# namespace of this run's own (loopback only). As root from the repository root:
#   bash bench/image-pull-bench.sh        (SIZE_MIB=512 ROUNDS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-512}
ROUNDS=${ROUNDS:-3}
npm run build --silent
work=$(mktemp -d)
ns="imgbench$$"
srv=""
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A GPT disk with SIZE_MIB of random data (incompressible), as a qcow2: what pull would fetch.
mkdir -p "$work/www" "$work/state"
raw="$work/disk.raw"
truncate -s "$((SIZE_MIB + 64))M" "$raw"
sgdisk -n1:2048:+1M -t1:ef02 -n2:0:+20M -t2:ef00 -n3:0:0 -t3:8300 "$raw" >/dev/null
dd if=/dev/urandom of="$raw" bs=1M seek=40 count="$SIZE_MIB" conv=notrunc status=none
qemu-img convert -O qcow2 "$raw" "$work/www/disk.qcow2" && rm -f "$raw"
hex=$(sha256sum "$work/www/disk.qcow2" | cut -d' ' -f1)
bytes=$(stat -c %s "$work/www/disk.qcow2")

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" node test/helpers/image-http-server.mjs "$work/www" 8080 "$work/requests.log" >/dev/null &
srv=$!
url=http://127.0.0.1:8080/disk.qcow2
for _ in $(seq 50); do ip netns exec "$ns" curl -sf -o /dev/null -r 0-0 "$url" && break; sleep 0.1; done

echo "node $(node --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(date -u +%FT%TZ), $(nproc) cores"
echo "file: $((bytes / 1048576)) MiB qcow2, ${ROUNDS} rounds alternating, same server, page cache warm for all"
for f in curl curlsha pull pulldl; do : > "$work/$f.ms"; done
for i in $(seq "$ROUNDS"); do
  t=$(ms); ip netns exec "$ns" curl -sS -o "$work/c.qcow2" "$url"; echo $(( $(ms) - t )) >> "$work/curl.ms"
  rm -f "$work/c.qcow2"
  t=$(ms); ip netns exec "$ns" sh -c "curl -sS -o $work/c.qcow2 $url && sha256sum $work/c.qcow2 >/dev/null"
  echo $(( $(ms) - t )) >> "$work/curlsha.ms"
  rm -f "$work/c.qcow2"
  t=$(ms)
  ip netns exec "$ns" node dist/vmctl/main.js --state-dir "$work/state" image pull "b$i" "$url" --sha256 "$hex" >/dev/null 2>"$work/pull.err"
  echo $(( $(ms) - t )) >> "$work/pull.ms"
  # The download phase alone (first to last byte, hashing included), from pull's own summary line.
  sed -n 's/.*downloaded .* in \([0-9.]*\) s .*/\1/p' "$work/pull.err" | awk '{printf "%d\n", $1 * 1000}' >> "$work/pulldl.ms"
  rm -f "$work/state/images/b$i".*
done
c=$(median < "$work/curl.ms"); cs=$(median < "$work/curlsha.ms")
p=$(median < "$work/pull.ms"); pd=$(median < "$work/pulldl.ms")
rate() { awk -v b="$bytes" -v m="$1" 'BEGIN {printf "%.0f", b / 1048576 / (m / 1000)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "| what | runs (ms) | median ms | MiB/s |"
echo "|---|---|---|---|"
echo "| curl -o FILE | $(paste -sd' ' "$work/curl.ms") | $c | $(rate "$c") |"
echo "| curl -o FILE && sha256sum FILE | $(paste -sd' ' "$work/curlsha.ms") | $cs | $(rate "$cs") |"
echo "| vmctl image pull: download phase (streamed to .part, sha256 inline) | $(paste -sd' ' "$work/pulldl.ms") | $pd | $(rate "$pd") |"
echo "| vmctl image pull: whole command (node start, download, verify, qemu-img info, convert into the cache, record) | $(paste -sd' ' "$work/pull.ms") | $p | $(rate "$p") |"
echo
echo "download phase / curl: $(ratio "$pd" "$c")   download phase / (curl + sha256sum): $(ratio "$pd" "$cs")   whole pull / (curl + sha256sum): $(ratio "$p" "$cs")"

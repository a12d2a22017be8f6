#!/bin/bash
# Instructions per request (valgrind's callgrind: user-space instructions, the JIT's code and
# V8's helper threads included) of the bare hono server and of mdserver with the request log
# off and on. A count, not a time: on these shared machines req/s moves ±20 % run to run, an
# instruction count a few per cent. Run as root after `npm run build`:
#   bash bench/mdserver-instructions.sh        (N=5000 measured requests after 20000 warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "mdserver-instructions: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
N=${N:-5000}
WARM=${WARM:-20000}
work=$(mktemp -d /tmp/mdserver-instructions.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null; wait 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
printf 'instances:\n  - {name: bench0, ip: 127.0.0.1}\n' > "$work/instances.yaml"

# measure LABEL PORT COMMAND...: warm up, zero the counters, send N requests, dump.
measure() {
  local label=$1 port=$2
  shift 2
  valgrind --tool=callgrind --callgrind-out-file="$work/$label.%p" "$@" > /dev/null 2> "$work/$label.err" &
  pid=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 1
  done
  node dist/bench/fixed-requests.js "$port" "$WARM"
  callgrind_control -z "$pid" > /dev/null 2>&1
  node dist/bench/fixed-requests.js "$port" "$N"
  callgrind_control -d "$pid" > /dev/null 2>&1
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$work/$label.$pid.1")
  kill "$pid"
  wait "$pid" 2> /dev/null || true
  pid=""
  echo "$label $((ir / N))"
}

config() {
  printf '[mdserver]\nstate-dir = %s/state-%s\nlisten = 127.0.0.1\nport = %s\nlibvirt = no\npassword = bench\ninstances-file = %s/instances.yaml\nlog-requests = %s\n' \
    "$work" "$1" "$1" "$work" "$2" > "$work/md-$1.conf"
  echo "$work/md-$1.conf"
}

echo "instructions per request, GET /2021-03-23/meta-data/instance-id, $N requests after $WARM, 10 connections"
hello=$(measure hello 8480 node dist/bench/hello-server.js 8480)
quiet=$(measure quiet 8481 node dist/mdserver/main.js --config "$(config 8481 no)")
logged=$(measure logged 8482 node dist/mdserver/main.js --config "$(config 8482 yes)")
h=${hello#* }
for row in "$hello" "$quiet" "$logged"; do
  v=${row#* }
  printf '%-8s %8d  bare/this %s\n' "${row% *}" "$v" "$(awk -v a="$h" -v b="$v" 'BEGIN {printf "%.2f", a / b}')"
done

#!/usr/bin/env bash
# Builds a minimal Debian chroot (mmdebstrap minbase) of SUITE with PACKAGEs installed, for
# tests that need another release's programs (cloud-init 25.x from trixie) or a root of their
# own (an rpm database). Prints the chroot's directory. Tests must not change it: copy it.
# Usage: build-debian-chroot.sh NAME SUITE PACKAGE...
#
# Cached under $CACHE (default /var/cache/mdserver-test) by a key made of this script's content
# and its arguments, built once per key; a rerun takes ~0 s. The mirror is the machine's own Debian
# mirror (the first URIs of /etc/apt/sources.list*), the only one reachable here.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: build-debian-chroot.sh NAME SUITE PACKAGE..." >&2
  exit 2
fi
NAME=$1
SUITE=$2
shift 2
PACKAGES=("$@")
CACHE=${MDSERVER_TEST_CACHE:-/var/cache/mdserver-test}

key=$( (
  cat "$0"
  echo "$NAME $SUITE ${PACKAGES[*]}"
) | sha256sum | cut -c1-16)
out="$CACHE/$NAME-$SUITE-$key"
if [ -f "$out/done" ]; then
  echo "$out/root"
  exit 0
fi

mirror=$(
  {
    grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true
    grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true
  } | grep -v -- '-security' | head -1 || true
)
if [ -z "$mirror" ]; then
  echo "build-debian-chroot: no Debian mirror in /etc/apt/sources.list*" >&2
  exit 1
fi

mkdir -p "$CACHE"
chmod 0755 "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
# Another run may have built it while we waited for the lock.
if [ -f "$out/done" ]; then
  echo "$out/root"
  exit 0
fi

work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-debian-chroot: mmdebstrap $SUITE from $mirror into $work/root" >&2
mmdebstrap --variant=minbase --quiet \
  --aptopt='APT::Install-Recommends "false"' \
  --include="$(
    IFS=,
    echo "${PACKAGES[*]}"
  )" \
  "$SUITE" "$work/root" "$mirror" >&2
rm -rf "$work"/root/var/lib/apt/lists/* "$work"/root/var/cache/apt/*.bin

rm -rf "$out"
mkdir -p "$out"
mv "$work/root" "$out/root"
touch "$out/done"
echo "build-debian-chroot: built $out" >&2
echo "$out/root"

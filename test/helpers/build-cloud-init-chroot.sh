#!/usr/bin/env bash
# Builds a Debian chroot holding that release's cloud-init, so tests can run its own
# `cloud-init schema` validator (the host's package is Debian 12's 22.4; trixie has 25.x).
# Prints the chroot's directory. Usage: build-cloud-init-chroot.sh SUITE (default trixie).
#
# Cached under $CACHE (default /var/cache/mdserver-test) by a key made of this script's content
# and the suite, built once per key; a rerun takes ~0 s. The mirror is the machine's own Debian
# mirror (the first URIs of /etc/apt/sources.list*), the only one reachable here.
set -euo pipefail

SUITE=${1:-trixie}
CACHE=${MDSERVER_TEST_CACHE:-/var/cache/mdserver-test}
# netplan.io: trixie's cloud images render network config with netplan; without a renderer
# cloud-init cannot compute the network config at all.
PACKAGES=(cloud-init python3 netplan.io)

key=$( (
  cat "$0"
  echo "$SUITE"
) | sha256sum | cut -c1-16)
out="$CACHE/cloud-init-$SUITE-$key"
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
  echo "build-cloud-init-chroot: no Debian mirror in /etc/apt/sources.list*" >&2
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
echo "build-cloud-init-chroot: mmdebstrap $SUITE from $mirror into $work/root" >&2
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
echo "build-cloud-init-chroot: built $out" >&2
echo "$out/root"

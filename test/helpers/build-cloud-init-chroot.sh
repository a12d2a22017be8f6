#!/usr/bin/env bash
# A Debian chroot holding that release's cloud-init, so tests can run its own `cloud-init
# schema` validator and datasource code (the host's package is Debian 12's 22.4; trixie has
# 25.x). Prints the chroot's directory. Usage: build-cloud-init-chroot.sh [SUITE] (default trixie).
# netplan.io: trixie's cloud images render network config with netplan; without a renderer
# cloud-init cannot compute the network config at all.
exec "$(dirname "$0")/build-debian-chroot.sh" cloud-init "${1:-trixie}" cloud-init python3 netplan.io

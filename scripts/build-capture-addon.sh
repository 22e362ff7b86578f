#!/usr/bin/env bash
# Builds the agent's capture addon (agent/native, against libpcap) as a prebuilt binary for one
# Linux architecture: agent/prebuilds/linux-<arch>/node.napi.glibc.node, which the agent loads
# on a machine of that architecture when it has no local build (no compiler needed there).
#
#   scripts/build-capture-addon.sh            this machine's architecture
#   scripts/build-capture-addon.sh arm64      cross-compiled on an x64 Debian machine
#   scripts/build-capture-addon.sh x64 arm64  both
#
# Cross-compiling for arm64 on Debian needs the cross compiler and libpcap for arm64:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install g++-aarch64-linux-gnu libpcap0.8-dev:arm64
# The binary links to libpcap.so.0.8 (Debian package libpcap0.8) and uses Node-API 8, so it
# runs on every Node.js >= 20 of that architecture. Missing tools are named before compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 0 ] && set -- "$(node -p process.arch)"
for arch in "$@"; do
  npm run --silent -w agent build-addon -- --arch "$arch"
done

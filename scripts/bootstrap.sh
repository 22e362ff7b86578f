#!/usr/bin/env bash
# Idempotent set-up for a fresh Linux machine: system packages (when root), npm
# dependencies, and the builds. `--test` also installs what the test suite drives
# (tshark, wireguard-go, promtool...). Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=0
[ "${1:-}" = "--test" ] && want_test_tools=1

log() { printf '[bootstrap] %s\n' "$*" >&2; }

base_packages=(libpcap-dev build-essential python3 iproute2)
test_packages=(tshark tcpdump tcpreplay wireguard-go wireguard-tools nftables iputils-ping iperf3 prometheus dnsmasq-base curl docker-compose chromium time
  softflowd argus-server argus-client pmacct nfdump netsniff-ng)

install_debian_packages() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing Debian packages (${missing[*]}); not root or no apt-get, so install them yourself"
    return 0
  fi
  log "installing Debian packages: ${missing[*]}"
  # Wait for a dpkg lock held by another install (a parallel checkout, unattended-upgrades) instead of failing.
  local lock=(-o DPkg::Lock::Timeout=600)
  if [ ! -f /tmp/.flowmesh-apt-updated ]; then apt-get "${lock[@]}" update -q >&2 && touch /tmp/.flowmesh-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Cross-building for arm64 nodes on an amd64 machine (the agent's Debian package, native addons):
# Debian's cross compiler and arm64's libpcap through multiarch.
cross_packages=(g++-aarch64-linux-gnu libpcap0.8-dev:arm64)
enable_arm64_multiarch() {
  [ "$(id -u)" -eq 0 ] && [ "$(dpkg --print-architecture)" = amd64 ] || return 1
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "dpkg --add-architecture arm64 (for cross-building)"
    dpkg --add-architecture arm64
    rm -f /tmp/.flowmesh-apt-updated # the package lists must now include arm64's
  fi
}

install_debian_packages "${base_packages[@]}"
[ $want_test_tools -eq 1 ] && install_debian_packages "${test_packages[@]}"
if [ $want_test_tools -eq 1 ] && enable_arm64_multiarch; then install_debian_packages "${cross_packages[@]}"; fi

command -v node >/dev/null || { log "Node.js >= 20 is required"; exit 1; }
command -v go >/dev/null || log "Go is not on the PATH: the plugin backend will not build"

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-fund --no-audit >&2
fi

log "building the agent"
npm run build -w agent >&2
if [ -f plugin/package.json ]; then
  log "building the plugin"
  npm run build -w plugin >&2
fi

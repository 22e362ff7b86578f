#!/usr/bin/env bash
# Builds the plugin's Go backend into plugin/dist with the SDK's mage targets (pinned as a
# Go tool in plugin/go.mod). Grafana runs dist/gpx_flowmesh_<os>_<arch> for its own OS and
# CPU: an arm64 Grafana (Apple silicon, Graviton) needs the arm64 build.
#
#   build-plugin-backend.sh               all six platforms Grafana ships (packaging)
#   build-plugin-backend.sh --host-only   linux for this machine's CPU (tests, npm start)
#   build-plugin-backend.sh --arch ARCH   linux for one Go CPU name: amd64, arm64 or arm
#                                         (the Grafana image build passes Docker's TARGETARCH)
set -euo pipefail
cd "$(dirname "$0")/../plugin"
command -v go >/dev/null || { echo "[build-plugin-backend] Go is not on the PATH" >&2; exit 1; }

# Go's name for a CPU as uname -m or Docker's TARGETARCH spell it.
go_arch() {
  case "$1" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    armv7l | armv6l | arm) echo arm ;;
    *) return 1 ;;
  esac
}

case "${1:-}" in
  "") exec go tool mage -v >&2 ;;
  --host-only) cpu=$(uname -m) ;;
  --arch) cpu=${2:?--arch needs a CPU name: amd64, arm64 or arm} ;;
  *) echo "[build-plugin-backend] unknown argument '$1' (--host-only, --arch ARCH, or none for every platform)" >&2; exit 2 ;;
esac
arch=$(go_arch "$cpu") || { echo "[build-plugin-backend] Grafana has no linux backend build for CPU '$cpu' (amd64, arm64, arm)" >&2; exit 1; }
exe=$(sed -n 's/.*"executable": *"\([^"]*\)".*/\1/p' src/plugin.json)
declare -A target=([amd64]=build:linux [arm64]=build:linuxARM64 [arm]=build:linuxARM)
go tool mage -v "${target[$arch]}" >&2
test -x "dist/${exe}_linux_$arch" || { echo "[build-plugin-backend] mage ran but dist/${exe}_linux_$arch is missing" >&2; exit 1; }
echo "[build-plugin-backend] dist/${exe}_linux_$arch" >&2

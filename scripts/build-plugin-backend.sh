#!/usr/bin/env bash
# Builds the plugin's Go backend into plugin/dist with the SDK's mage targets
# (pinned as a Go tool in plugin/go.mod). --host-only: linux for this machine's CPU only
# (amd64, arm64 or arm; tests, npm start); default: all six platforms Grafana ships (packaging).
# Grafana runs dist/gpx_flowmesh_<os>_<arch> for its own OS and CPU: an arm64 Grafana
# (Apple silicon, Graviton) needs the arm64 build.
set -euo pipefail
cd "$(dirname "$0")/../plugin"
command -v go >/dev/null || { echo "[build-plugin-backend] Go is not on the PATH" >&2; exit 1; }
if [ "${1:-}" = "--host-only" ]; then
  case "$(uname -m)" in
    x86_64 | amd64) target=build:linux ;;
    aarch64 | arm64) target=build:linuxARM64 ;;
    armv7l | armv6l) target=build:linuxARM ;;
    *) echo "[build-plugin-backend] no Grafana backend target for CPU $(uname -m) (amd64, arm64, arm)" >&2; exit 1 ;;
  esac
  go tool mage -v "$target" >&2
else
  go tool mage -v >&2
fi

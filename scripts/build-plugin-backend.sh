#!/usr/bin/env bash
# Builds the plugin's Go backend into plugin/dist with the SDK's mage targets
# (pinned as a Go tool in plugin/go.mod). --host-only: linux/amd64 only (tests, npm start);
# default: all six platforms Grafana ships (packaging).
set -euo pipefail
cd "$(dirname "$0")/../plugin"
command -v go >/dev/null || { echo "[build-plugin-backend] Go is not on the PATH" >&2; exit 1; }
if [ "${1:-}" = "--host-only" ]; then
  go tool mage -v build:linux >&2
else
  go tool mage -v >&2
fi

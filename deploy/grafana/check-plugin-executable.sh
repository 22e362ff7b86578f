#!/bin/sh
# Is the Flowmesh backend for this machine's CPU in the plugin directory? Grafana runs
# <executable>_linux_<arch> from it (plugin.json names the executable); without the right
# one every query and alert rule of the data source fails, with messages that do not say
# why. This says why, and how to fix it. POSIX sh: it runs in the Grafana image (Alpine)
# before Grafana starts, and on the host before `npm start` starts Grafana.
#
#   check-plugin-executable.sh PLUGIN_DIR [CPU]     (CPU: as `uname -m` prints it; default this machine)
set -eu
dir=${1:?usage: check-plugin-executable.sh PLUGIN_DIR [CPU]}
cpu=${2:-$(uname -m)}
case "$cpu" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  armv7l | armv6l | arm) arch=arm ;;
  *) arch=$cpu ;;
esac
exe=$(sed -n 's/.*"executable": *"\([^"]*\)".*/\1/p' "$dir/plugin.json" 2>/dev/null || true)
if [ -z "$exe" ]; then
  echo "flowmesh: $dir/plugin.json is missing or names no backend executable: the plugin frontend is not built there" >&2
  exit 1
fi
if [ -x "$dir/${exe}_linux_$arch" ]; then
  exit 0
fi
present=$(cd "$dir" && for f in "${exe}"_*; do [ -e "$f" ] && printf '%s ' "$f"; done; true)
present=${present% }
echo "flowmesh: this machine's CPU is $cpu, so Grafana needs $dir/${exe}_linux_$arch, which is not there" \
  "(present: ${present:-no backend executable at all}). Every Flowmesh query and alert would fail." \
  "Build the backend for this CPU (bash scripts/build-plugin-backend.sh --host-only), or rebuild the image (docker compose build grafana)." >&2
exit 1

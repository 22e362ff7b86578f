#!/usr/bin/env bash
# Builds the plugin and zips it the way Grafana installs it: dist/ renamed to the plugin id,
# executables 0755, everything else 0644. Output: plugin/artifacts/<id>-<version>.zip (+ .sha256).
#
#   scripts/package.sh                      frontend + Go backend for all six platforms
#   scripts/package.sh --backend=linux      frontend + linux/amd64 backend only (quick local use)
#   scripts/package.sh --backend=prebuilt   frontend; take whatever gpx_* binaries dist/ already has
#   scripts/package.sh --backend=none       frontend only (Grafana cannot run queries with it)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

backend=all
for arg in "$@"; do
  case "$arg" in
    --backend=all | --backend=linux | --backend=prebuilt | --backend=none) backend="${arg#--backend=}" ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

id=$(node -p "require('./src/plugin.json').id")
exe=$(node -p "require('./src/plugin.json').executable")
version=$(node -p "require('./package.json').version")
started=$SECONDS

echo "==> frontend (webpack, production)"
npm run --silent build >/tmp/flowmesh-plugin-webpack.log 2>&1 || { cat /tmp/flowmesh-plugin-webpack.log; exit 1; }

case "$backend" in
  all) echo "==> backend: go tool mage -v (six platforms)"; go tool mage -v ;;
  linux) echo "==> backend: go tool mage -v build:linux"; go tool mage -v build:linux ;;
  *) echo "==> backend: $backend (not building Go)" ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$id"
mkdir "$root"
cp -R dist/. "$root/"
# Executables of other names (an earlier scaffold's) and standalone-debug markers never ship.
find "$root" -maxdepth 1 -type f -name 'gpx_*' ! -name "${exe}_*" -delete
find "$root" -type f \( -name standalone.txt -o -name pid.txt \) -delete
if [ "$backend" = none ]; then
  rm -f "$root/${exe}_"* "$root/go_plugin_build_manifest"
fi

find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
binaries=$(find "$root" -maxdepth 1 -type f -name "${exe}_*" | sort)
if [ -n "$binaries" ]; then
  chmod 0755 $binaries
elif [ "$backend" != none ]; then
  echo "package.sh: no ${exe}_<os>_<arch> executables in dist/ (build the backend, or pass --backend=none)" >&2
  exit 1
fi

mkdir -p artifacts
zip_path="artifacts/${id}-${version}.zip"
rm -f "$zip_path"
(cd "$stage" && zip -q -r -X - "$id") >"$zip_path"
(cd artifacts && sha256sum "$(basename "$zip_path")" >"$(basename "$zip_path").sha256")

echo "==> $zip_path ($(du -h "$zip_path" | cut -f1), $((SECONDS - started))s)"
if [ -n "$binaries" ]; then
  for b in $binaries; do echo "    $(basename "$b")"; done
else
  echo "    WARNING: no backend executables: frontend-only package, queries and alerting will not work"
fi

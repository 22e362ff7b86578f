#!/bin/sh
# The Flowmesh Grafana image's entry point: refuse to start Grafana without the plugin
# backend for this CPU (saying so), then hand over to the official image's /run.sh.
set -eu
check-plugin-executable.sh "$FLOWMESH_PLUGIN_DIR"
exec /run.sh "$@"

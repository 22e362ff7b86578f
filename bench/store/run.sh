#!/usr/bin/env bash
# Flow store + query engine benchmark (see agent/src/bench/store.ts for what it measures).
# Builds the agent, then runs the benchmark on synthetic records in a temporary directory.
#   bench/store/run.sh --quick            200k records (about a minute)
#   bench/store/run.sh                    10 million records over 24 h (several minutes)
#   bench/store/run.sh --records N --days D --runs R [--dir DIR --keep]
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build -w agent >/dev/null
exec node --expose-gc agent/dist/bench/store.js "$@"

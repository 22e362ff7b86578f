#!/usr/bin/env bash
# The whole test suite: what `npm test` runs and what CI runs. Privileged tests (capture,
# network namespaces) run when root and announce loudly that they skip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test

step() { printf '\n=== %s\n' "$*"; }

step "typecheck"
npm run typecheck --workspaces --if-present
step "lint"
npx eslint .
step "agent tests (jest)"
npm test -w agent -- --ci
if [ -f plugin/go.mod ]; then
  step "plugin backend tests (go test)"
  (cd plugin && go test ./... -count=1)
fi
if [ -f plugin/package.json ]; then
  step "plugin frontend tests (jest)"
  npm test -w plugin -- --ci
fi

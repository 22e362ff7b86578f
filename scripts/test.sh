#!/usr/bin/env bash
# The whole test suite: what `npm test` runs and what CI runs. Privileged tests (capture,
# network namespaces, WireGuard) run when root and announce loudly that they skip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/bootstrap.sh --test

step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

[ "$(id -u)" -eq 0 ] || echo "!!! NOT ROOT: capture, network-namespace and WireGuard tests will SKIP. Run as root (CI does) for the full suite. !!!"

step "plugin backend build (linux, this machine's CPU)"
bash scripts/build-plugin-backend.sh --host-only
step "typecheck"
npm run typecheck --workspaces --if-present
step "lint"
npx eslint .
step "agent tests"
npm test -w agent -- --ci
step "dashboards, provisioning and compose tests"
npm test -w dashboards -- --ci
step "lab tests (live capture over WireGuard, tshark comparison)"
npm test -w lab -- --ci
step "deploy tests (systemd unit; the Debian package built, installed, run as its user, upgraded and purged)"
npm test -w deploy -- --ci
step "plugin backend tests (go test)"
(cd plugin && go test ./... -count=1)
# the bench's federation driver imports the backend packages: it must keep building with them
(cd bench/go && go vet ./...)
step "plugin frontend tests and lint"
npm test -w plugin -- --ci
npm run lint -w plugin
step "plugin package (frontend + linux/amd64 backend) and offline validation of the zip"
npm run package -w plugin -- --backend=linux
npm run validate -w plugin
step "plugin editors rendered in headless Chromium (fails on page errors)"
shots=$(mktemp -d)
npm run render-check -w plugin -- "$shots"
rm -rf "$shots"
step "done"

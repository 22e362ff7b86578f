#!/usr/bin/env bash
# The package under a real systemd: boots a minimal Debian 12 tree as a systemd-nspawn
# container (systemd as its PID 1, a private network) and checks there what the unit promises
# and deploy/test can only reproduce with setpriv: the agent installed and started by
# postinst, running as flowmesh with exactly CAP_NET_RAW + CAP_NET_ADMIN under the unit's
# sandbox (seccomp, ProtectSystem=strict, address families...), capturing and storing; a stop
# that flushes and exits 0; a missing interface retried until it appears; a configuration
# error not retried (exit 2); an upgrade restarting the agent with the token kept; removal
# stopping it; purge leaving nothing.
#
# Not part of npm test: the Debian tree is debootstrapped from the Debian mirror (about 150 MB,
# kept in ~/.cache/flowmesh-deb/bookworm-root) and Node.js >= 20 is carried over from this
# machine's nodejs package (dpkg-repack), since Debian 12's own is 18.
#
#   sudo bash deploy/debian/check-under-systemd.sh [--deb flowmesh-agent_..._amd64.deb]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deb=""
[ "${1:-}" = "--deb" ] && deb=$(realpath "$2")
[ "$(id -u)" -eq 0 ] || { echo "check-under-systemd.sh: needs root (systemd-nspawn)" >&2; exit 1; }
for tool in debootstrap systemd-nspawn dpkg-repack nsenter; do
  command -v "$tool" >/dev/null || { echo "check-under-systemd.sh: $tool missing (apt-get install debootstrap systemd-container dpkg-repack)" >&2; exit 1; }
done

say() { printf '[systemd check] %s\n' "$*" >&2; }
failures=0
check() { # check "what" test-command...
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}

cache=${XDG_CACHE_HOME:-$HOME/.cache}/flowmesh-deb
tree="$cache/bookworm-root"
if [ ! -x "$tree/lib/systemd/systemd" ]; then
  say "debootstrapping a minimal Debian 12 into $tree (once)"
  rm -rf "$tree"; mkdir -p "$cache"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libpcap0.8,adduser,iproute2,curl,libstdc++6 \
    bookworm "$tree" http://deb.debian.org/debian >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/flowmesh-systemd-XXXXXX")
nspawn_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"; for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

[ -n "$deb" ] || deb=$(bash "$here/build.sh" --out "$work")
(cd "$work" && dpkg-repack nodejs >/dev/null 2>&1)
cp "$deb" "$work/flowmesh-agent.deb"
# the upgrade: the same package one version later
mkdir "$work/up" && dpkg-deb -R "$deb" "$work/up/tree"
sed -i 's/^Version: \(.*\)$/Version: \1+check/' "$work/up/tree/DEBIAN/control"
dpkg-deb --build --root-owner-group -Znone "$work/up/tree" "$work/flowmesh-agent-newer.deb" >/dev/null
rm -rf "$work/up"

say "booting the container (ephemeral copy of the tree)"
machine="fm-check-$$"
systemd-nspawn -D "$tree" --ephemeral --register=no --keep-unit --private-network -b --machine="$machine" \
  --bind-ro="$work:/mnt/fm" >"$work/boot.log" 2>&1 &
nspawn_pid=$!
init=""
for _ in $(seq 1 120); do
  init=$(pgrep -P "$nspawn_pid" | head -1 || true)
  if [ -n "$init" ] && nsenter -t "$init" -a -- systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'; then break; fi
  sleep 1
done
[ -n "$init" ] || { cat "$work/boot.log" >&2; echo "check-under-systemd.sh: the container did not boot" >&2; exit 1; }
inside() { nsenter -t "$init" -a -- /bin/bash -c "$1"; }

inside 'dpkg --force-depends -i /mnt/fm/nodejs_*.deb >/dev/null 2>&1; dpkg -i /mnt/fm/flowmesh-agent.deb >/dev/null'
sleep 4
check "postinst enabled and started the service" inside 'systemctl is-enabled -q flowmesh-agent && systemctl is-active -q flowmesh-agent'
check "it runs as flowmesh with exactly CAP_NET_RAW + CAP_NET_ADMIN, seccomp on, no new privileges" inside '
  p=$(systemctl show -p MainPID --value flowmesh-agent)
  [ "$(awk "/^Uid:/{print \$2}" /proc/$p/status)" = "$(id -u flowmesh)" ] &&
  grep -q "^CapEff:	0000000000003000" /proc/$p/status && grep -q "^CapAmb:	0000000000003000" /proc/$p/status &&
  grep -q "^Seccomp:	2" /proc/$p/status && grep -q "^NoNewPrivs:	1" /proc/$p/status'
check "it captures (interface any) and stores what it saw" inside '
  for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:9477/health; done; sleep 5
  t=$(cat /etc/flowmesh/token)
  curl -s -H "Authorization: Bearer $t" -H "Content-Type: application/json" http://127.0.0.1:9477/api/v1/query \
    -d "{\"kind\":\"flows\",\"from\":0,\"to\":$(( ($(date +%s) + 60) * 1000 )),\"limit\":10}" | grep -q "\"dst_port\":9477"'
check "systemctl stop flushes and exits 0" inside 'systemctl stop flowmesh-agent && [ "$(systemctl show -p ExecMainStatus --value flowmesh-agent)" = 0 ]
  journalctl -u flowmesh-agent --no-pager | grep -q "\"msg\":\"stopped\""'
check "a missing interface is retried until it appears" inside '
  cp /etc/flowmesh/agent.yaml /root/agent.yaml
  sed -i "s/  interface: any/  interface: fm0/" /etc/flowmesh/agent.yaml
  systemctl start flowmesh-agent; sleep 7
  [ "$(systemctl show -p NRestarts --value flowmesh-agent)" -ge 1 ] || exit 1
  ip link add fm0 type veth peer name fm1 && ip link set fm0 up && ip link set fm1 up; sleep 8
  systemctl is-active -q flowmesh-agent && journalctl -u flowmesh-agent --no-pager | grep -q "\"interface\":\"fm0\",\"linkType\":1"'
check "a configuration error exits 2 and is not retried" inside '
  systemctl stop flowmesh-agent; printf "bogus_key: 1\n" >> /etc/flowmesh/agent.yaml
  systemctl start flowmesh-agent; sleep 8
  [ "$(systemctl show -p ExecMainStatus --value flowmesh-agent)" = 2 ] && [ "$(systemctl show -p ActiveState --value flowmesh-agent)" = failed ]'
inside 'cp /root/agent.yaml /etc/flowmesh/agent.yaml; ip link del fm0; systemctl reset-failed flowmesh-agent; systemctl start flowmesh-agent; sleep 3'
check "an upgrade restarts the agent on the new version and keeps token, configuration and database" inside '
  pid=$(systemctl show -p MainPID --value flowmesh-agent); token=$(cat /etc/flowmesh/token)
  dpkg -i /mnt/fm/flowmesh-agent-newer.deb >/dev/null 2>&1; sleep 4
  [ "$(systemctl show -p MainPID --value flowmesh-agent)" != "$pid" ] && systemctl is-active -q flowmesh-agent &&
  [ "$(cat /etc/flowmesh/token)" = "$token" ] && cmp -s /etc/flowmesh/agent.yaml /root/agent.yaml && [ -f /var/lib/flowmesh/flows.duckdb ]'
check "removal stops the agent and keeps configuration, token, database and user" inside '
  dpkg -r flowmesh-agent >/dev/null 2>&1
  ! systemctl is-active -q flowmesh-agent && [ -f /etc/flowmesh/agent.yaml ] && [ -f /etc/flowmesh/token ] &&
  [ -f /var/lib/flowmesh/flows.duckdb ] && id flowmesh >/dev/null'
check "purge leaves nothing" inside '
  dpkg -P flowmesh-agent >/dev/null 2>&1
  [ ! -e /etc/flowmesh ] && [ ! -e /var/lib/flowmesh ] && ! id flowmesh >/dev/null 2>&1 &&
  [ -z "$(find /etc/systemd /var/lib/systemd -name "*flowmesh*")" ]'

if [ "$failures" -gt 0 ]; then say "$failures checks failed"; exit 1; fi
say "all checks passed under systemd $(inside 'systemctl --version | head -1 | cut -d" " -f2')"

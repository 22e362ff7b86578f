#!/usr/bin/env bash
# `npm start`: the main job. Installs what is missing, builds, starts an agent capturing on
# the default interface with its DuckDB file under .data/, and Grafana with this repo's
# provisioning and the built plugin when a Grafana binary is available. Ctrl-C stops
# everything cleanly (the agent flushes every active flow before it exits).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bash scripts/bootstrap.sh
[ -f plugin/go.mod ] && command -v go >/dev/null && bash scripts/build-plugin-backend.sh --host-only

data_dir=${FLOWMESH_DATA_DIR:-$repo/.data}
mkdir -p "$data_dir"
listen=${FLOWMESH_LISTEN:-127.0.0.1:9477}
token=${FLOWMESH_TOKEN:-}
if [ -z "$token" ]; then
  token_file="$data_dir/token"
  [ -s "$token_file" ] || node -e "process.stdout.write(require('crypto').randomBytes(24).toString('base64url'))" >"$token_file"
  token=$(cat "$token_file")
fi
export FLOWMESH_TOKEN=$token

iface=${FLOWMESH_INTERFACE:-$(ip route show default 2>/dev/null | awk '/default/ {for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')}
iface=${iface:-any}

pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all INT TERM EXIT

agent=(node agent/dist/cli.js)
if [ "$(id -u)" -eq 0 ]; then
  echo "[start] agent capturing on '$iface', database in $data_dir, API on http://$listen"
  "${agent[@]}" run --interface "$iface" --data-dir "$data_dir" --listen "$listen" --node "$(hostname)" &
else
  echo "[start] live capture needs root (or CAP_NET_RAW): serving the existing database in $data_dir without capturing."
  echo "[start] import a capture with: node agent/dist/cli.js import FILE.pcap --data-dir $data_dir"
  "${agent[@]}" serve --data-dir "$data_dir" --listen "$listen" --node "$(hostname)" &
fi
pids+=($!)

grafana_bin=${GRAFANA_BIN:-$(command -v grafana || command -v grafana-server || true)}
if [ -n "$grafana_bin" ]; then
  sh deploy/grafana/check-plugin-executable.sh plugin/dist
  gf_home=${GRAFANA_HOME:-$(dirname "$(dirname "$(readlink -f "$grafana_bin")")")}
  gf_data="$data_dir/grafana"
  gf_prov="$gf_data/provisioning"
  mkdir -p "$gf_data/plugins" "$gf_prov/datasources" "$gf_prov/dashboards" "$gf_prov/alerting"
  ln -sfn "$repo/plugin/dist" "$gf_data/plugins/flowmesh-flows-datasource"
  # The repo's provisioning targets the compose network; here the data source points at the
  # local agent and the dashboards are read from the repo. Alert rules are used as they are.
  cp "$repo"/provisioning/grafana/alerting/*.yaml "$gf_prov/alerting/"
  cat >"$gf_prov/datasources/flowmesh.yaml" <<YAML
apiVersion: 1
datasources:
  - name: Flowmesh
    uid: flowmesh
    type: flowmesh-flows-datasource
    access: proxy
    isDefault: true
    jsonData:
      agents: [{ name: "$(hostname)", url: "http://$listen" }]
      defaultDedupe: connection
    secureJsonData:
      token: "\${FLOWMESH_TOKEN}"
YAML
  sed "s#path: /var/lib/grafana/dashboards/flowmesh#path: $repo/dashboards/json#" \
    "$repo/provisioning/grafana/dashboards/flowmesh.yaml" >"$gf_prov/dashboards/flowmesh.yaml"
  echo "[start] Grafana on http://127.0.0.1:3000 (admin/admin) with the Flowmesh plugin and dashboards"
  GF_PATHS_PROVISIONING="$gf_prov" GF_PATHS_DATA="$gf_data" GF_PATHS_PLUGINS="$gf_data/plugins" \
  GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=flowmesh-flows-datasource \
    "$grafana_bin" server --homepath "$gf_home" &
  pids+=($!)
else
  echo "[start] no Grafana binary found (set GRAFANA_BIN or put grafana on the PATH)."
  echo "[start] for the full stack with Grafana and Prometheus: docker compose up --build"
fi
echo "[start] agent token: $token   (curl -H 'Authorization: Bearer $token' http://$listen/info)"
echo "[start] Ctrl-C stops everything; active flows are flushed to the database first."
wait -n "${pids[@]}" || true

package contract

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/test/pluginlaunch"
)

// buildExecutable compiles the backend the way the release build does (static, CGO off).
func buildExecutable(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gpx_flowmesh_linux_amd64")
	cmd := exec.Command("go", "build", "-tags", "arrow_json_stdlib", "-o", bin, "./pkg")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// launch starts the built executable through go-plugin, like Grafana; it is stopped when
// the test ends.
func launch(t *testing.T, bin string) *pluginlaunch.Process {
	t.Helper()
	p, err := pluginlaunch.Launch(bin, io.Discard, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// The built executable, launched as Grafana does, answers health, every query type and
// the resource routes against real agents.
func TestBuiltExecutableAgainstRealAgents(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	c := launch(t, buildExecutable(t))
	s := settingsFor(h.Union, nil)

	if res := checkHealth(t, c, s); res.Status != backend.HealthStatusOk {
		t.Fatalf("health %v: %s", res.Status, res.Message)
	}

	summary := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "summary"}))
	if got, want := floatAt(field(t, summary[0], "bytes"), 0), o.total("bytes"); got != want {
		t.Errorf("summary bytes %v, union %v", got, want)
	}

	top := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"dst_ip"}, "limit": 3}))
	want := o.top("bytes", func(r models.FlowRecord) string { return r.DstIP })
	if k := field(t, top[0], "dst_ip").At(0).(string); k != want[0].key {
		t.Errorf("top destination %s, union %s", k, want[0].key)
	}
	if field(t, top[0], "bytes").Config.Unit != "bytes" {
		t.Error("top value unit is not bytes")
	}

	// From alerting: exactly one numeric column.
	alerting := mustOK(t, runWithHeaders(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"dst_ip"}, "limit": 3}, map[string]string{backend.FromAlertHeaderName: "true"}))
	numeric := 0
	for _, f := range alerting[0].Fields {
		if f.Type().Numeric() {
			numeric++
		}
	}
	if numeric != 1 {
		t.Errorf("alerting top frame has %d numeric fields", numeric)
	}

	series := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "timeseries", "splitBy": []string{"direction"}}))
	if len(series) == 0 || series[0].Meta.Type != data.FrameTypeTimeSeriesMulti || series[0].Meta.TypeVersion.IsZero() {
		t.Errorf("timeseries frames %v", series)
	}

	flows := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "flows", "limit": 50}))
	if n := flows[0].Rows(); n != min(50, len(o.all)) {
		t.Errorf("flows page of %d rows, want %d", n, min(50, len(o.all)))
	}
	// Addresses are filterable (ad-hoc filters); links are the dashboards' (they know their variables).
	if src := field(t, flows[0], "src_ip").Config; field(t, flows[0], "bytes_tx").Config.Unit != "bytes" || src.Filterable == nil || !*src.Filterable || len(src.Links) != 0 {
		t.Error("flows table lacks byte units or filterable addresses, or carries links")
	}

	topo := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "topology"}))
	if len(topo) != 2 || topo[0].Name != "nodes" || topo[1].Name != "edges" {
		t.Errorf("topology frames %v", topo)
	}

	if status, body := callResource(t, c, s, "GET", "agents", nil); status != 200 || strings.Count(string(body), `"ok":true`) != 3 {
		t.Errorf("GET agents: %d %s", status, body)
	}
	if status, body := callResource(t, c, s, "POST", "values", map[string]any{"dimension": "node", "from": o.tr.from.UnixMilli(), "to": o.tr.to.UnixMilli()}); status != 200 || !strings.Contains(string(body), `"agent-c"`) {
		t.Errorf("POST values: %d %s", status, body)
	}
	if status, body := callResource(t, c, s, "GET", "dimensions", nil); status != 200 || !strings.Contains(string(body), `"metrics"`) {
		t.Errorf("GET dimensions: %d %s", status, body)
	}
}

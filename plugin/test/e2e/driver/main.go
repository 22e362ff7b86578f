// Command driver runs the BUILT plugin backend executable the way Grafana does (see
// launch.go) and lets another program talk to it in JSON lines, so the end-to-end test
// (lab/test/e2e.test.ts) can query real agents through the real executable without a
// Grafana server.
//
//	go run ./test/e2e/driver --executable dist/gpx_flowmesh_linux_<arch>
//
// stdout: first {"event":"ready","pid":<backend pid>}, then one answer line per request
// line read from stdin, in order. stdin EOF, SIGINT or SIGTERM stop the backend and exit.
//
// Request: {"id", "op": "health"|"query"|"resource", "settings": {"jsonData", "secureJsonData"},
// query: "from"/"to" (epoch ms), "queries" (plugin query models; per query optional
// "intervalMs", "maxDataPoints" and "timeRange" {from, to} as Grafana alerting sends them),
// "headers" (e.g. {"FromAlert": "true"}); resource: "method", "path", "body" (JSON).
//
// Answer: {"id", "queryData": {"results": {refId: {status, frames, error, errorSource}}}}
// (Grafana's own /api/ds/query shape), {"id", "health": {status, message, details}}, {"id", "resource":
// {status, body}}, or {"id", "error"} when the call itself failed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/test/pluginlaunch"
)

const pluginID = "flowmesh-flows-datasource"

type settings struct {
	JSONData       json.RawMessage   `json:"jsonData"`
	SecureJSONData map[string]string `json:"secureJsonData"`
}

type timeRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

type request struct {
	ID       int64             `json:"id"`
	Op       string            `json:"op"`
	Settings settings          `json:"settings"`
	From     int64             `json:"from"`
	To       int64             `json:"to"`
	Queries  []json.RawMessage `json:"queries"`
	Headers  map[string]string `json:"headers"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Body     json.RawMessage   `json:"body"`
}

// queryEnvelope holds the members of a query model the DataQuery itself carries.
type queryEnvelope struct {
	RefID         string     `json:"refId"`
	QueryType     string     `json:"queryType"`
	IntervalMs    int64      `json:"intervalMs"`
	MaxDataPoints int64      `json:"maxDataPoints"`
	TimeRange     *timeRange `json:"timeRange"`
}

type health struct {
	Status  string          `json:"status"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

type resource struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

const requestTimeout = 60 * time.Second

func main() {
	executable := flag.String("executable", "", "the built backend executable (plugin/dist/gpx_flowmesh_linux_<arch>)")
	flag.Parse()
	if *executable == "" {
		fmt.Fprintln(os.Stderr, "driver: --executable is required")
		os.Exit(2)
	}
	p, err := launch(*executable)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		p.Kill()
		os.Exit(0)
	}()
	defer p.Kill()

	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]any{"event": "ready", "pid": p.Pid}); err != nil {
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var req request
		var answer map[string]any
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			answer = map[string]any{"error": "bad request line: " + err.Error()}
		} else {
			answer = serve(p, req)
		}
		answer["id"] = req.ID
		if err := out.Encode(answer); err != nil {
			return
		}
	}
}

func serve(p *pluginlaunch.Process, req request) map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	pc := pluginContext(req.Settings)
	switch req.Op {
	case "health":
		res, err := p.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pc})
		if err != nil {
			return map[string]any{"error": "CheckHealth: " + err.Error()}
		}
		return map[string]any{"health": health{Status: res.Status.String(), Message: res.Message, Details: res.JSONDetails}}
	case "query":
		queries, err := dataQueries(req)
		if err != nil {
			return map[string]any{"error": err.Error()}
		}
		res, err := p.QueryData(ctx, &backend.QueryDataRequest{PluginContext: pc, Headers: req.Headers, Queries: queries})
		if err != nil {
			return map[string]any{"error": "QueryData: " + err.Error()}
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return map[string]any{"error": "encode QueryData response: " + err.Error()}
		}
		return map[string]any{"queryData": json.RawMessage(raw)}
	case "resource":
		status, body, err := callResource(ctx, p, &backend.CallResourceRequest{
			PluginContext: pc, Method: req.Method, Path: req.Path, URL: req.Path, Body: req.Body,
			Headers: map[string][]string{"Content-Type": {"application/json"}},
		})
		if err != nil {
			return map[string]any{"error": "CallResource: " + err.Error()}
		}
		return map[string]any{"resource": resource{Status: status, Body: string(body)}}
	default:
		return map[string]any{"error": fmt.Sprintf("unknown op %q: expected health, query or resource", req.Op)}
	}
}

// pluginContext is what Grafana sends with every call for the provisioned data source. The
// instance is keyed by uid and Updated, so Updated follows the settings' content: the backend
// rebuilds its instance exactly when the settings change.
func pluginContext(s settings) backend.PluginContext {
	h := fnv.New64a()
	_, _ = h.Write(s.JSONData)
	keys, _ := json.Marshal(s.SecureJSONData)
	_, _ = h.Write(keys)
	return backend.PluginContext{
		OrgID:    1,
		PluginID: pluginID,
		DataSourceInstanceSettings: &backend.DataSourceInstanceSettings{
			ID: 1, UID: "flowmesh", Name: "Flowmesh", Type: pluginID,
			JSONData: s.JSONData, DecryptedSecureJSONData: s.SecureJSONData,
			Updated: time.Unix(int64(h.Sum64()>>34), 0),
		},
	}
}

func dataQueries(req request) ([]backend.DataQuery, error) {
	queries := make([]backend.DataQuery, 0, len(req.Queries))
	for i, raw := range req.Queries {
		var q queryEnvelope
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, fmt.Errorf("queries[%d]: %v", i, err)
		}
		if q.RefID == "" {
			return nil, fmt.Errorf("queries[%d]: refId missing", i)
		}
		tr := timeRange{From: req.From, To: req.To}
		if q.TimeRange != nil {
			tr = *q.TimeRange
		}
		if tr.To <= tr.From {
			return nil, fmt.Errorf("queries[%d] (%s): time range [%d, %d) is empty", i, q.RefID, tr.From, tr.To)
		}
		interval := time.Duration(q.IntervalMs) * time.Millisecond
		if interval <= 0 {
			interval = time.Second
		}
		maxPoints := q.MaxDataPoints
		if maxPoints <= 0 {
			maxPoints = 1000
		}
		queries = append(queries, backend.DataQuery{
			RefID: q.RefID, QueryType: q.QueryType, JSON: raw, Interval: interval, MaxDataPoints: maxPoints,
			TimeRange: backend.TimeRange{From: time.UnixMilli(tr.From), To: time.UnixMilli(tr.To)},
		})
	}
	return queries, nil
}

package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"

	"github.com/flowmesh/flowmesh/plugin/pkg/plugin"
)

// backendClient is what both the in-process plugin and the launched executable offer.
type backendClient interface {
	QueryData(ctx context.Context, r *backend.QueryDataRequest) (*backend.QueryDataResponse, error)
	CheckHealth(ctx context.Context, r *backend.CheckHealthRequest) (*backend.CheckHealthResult, error)
	CallResource(ctx context.Context, r *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error
}

var (
	inProcessOnce sync.Once
	inProcess     *datasourcetest.TestPlugin
	inProcessErr  error
	instanceIDs   atomic.Int64
)

// inProcessClient serves the backend over the real plugin gRPC protocol inside the test.
func inProcessClient(t *testing.T) backendClient {
	t.Helper()
	inProcessOnce.Do(func() {
		addr, err := freePort()
		if err != nil {
			inProcessErr = err
			return
		}
		p, err := datasourcetest.Manage(plugin.NewDatasource, datasourcetest.ManageOpts{Address: addr})
		inProcess, inProcessErr = &p, err
	})
	if inProcessErr != nil {
		t.Fatal(inProcessErr)
	}
	return inProcess.Client
}

// dsSettings is a data source configuration; each gets its own instance id.
type dsSettings struct {
	agents  []*agentProc
	extra   map[string]any    // more jsonData
	secure  map[string]string // secureJsonData; default token = sharedToken and token.agent-c
	rawJSON string            // replaces jsonData entirely when set
	pc      *backend.PluginContext
}

func settingsFor(agents []*agentProc, extra map[string]any) *dsSettings {
	return &dsSettings{agents: agents, extra: extra}
}

func (s *dsSettings) context() backend.PluginContext {
	if s.pc != nil {
		return *s.pc
	}
	jsonData := map[string]any{}
	var list []map[string]string
	for _, a := range s.agents {
		list = append(list, map[string]string{"name": a.Name, "url": a.URL})
	}
	jsonData["agents"] = list
	for k, v := range s.extra {
		jsonData[k] = v
	}
	raw, _ := json.Marshal(jsonData)
	if s.rawJSON != "" {
		raw = []byte(s.rawJSON)
	}
	secure := s.secure
	if secure == nil {
		secure = map[string]string{"token": sharedToken}
		for _, a := range s.agents {
			if a.Token != sharedToken {
				secure["token."+a.Name] = a.Token
			}
		}
	}
	id := instanceIDs.Add(1)
	s.pc = &backend.PluginContext{
		OrgID:    1,
		PluginID: plugin.PluginID,
		DataSourceInstanceSettings: &backend.DataSourceInstanceSettings{
			ID: id, UID: fmt.Sprintf("flowmesh-test-%d", id), Name: "Flowmesh", Type: plugin.PluginID,
			JSONData: raw, DecryptedSecureJSONData: secure, Updated: time.Unix(1700000000, 0),
		},
	}
	return *s.pc
}

type timeRange struct{ from, to time.Time }

func dataQuery(refID string, tr timeRange, model map[string]any) backend.DataQuery {
	model["refId"] = refID
	raw, _ := json.Marshal(model)
	qt, _ := model["queryType"].(string)
	return backend.DataQuery{RefID: refID, QueryType: qt, JSON: raw, TimeRange: backend.TimeRange{From: tr.from, To: tr.to},
		Interval: time.Minute, MaxDataPoints: 1000}
}

// run sends one query and returns its response.
func run(t *testing.T, c backendClient, s *dsSettings, tr timeRange, model map[string]any) backend.DataResponse {
	t.Helper()
	return runWithHeaders(t, c, s, tr, model, nil)
}

func runWithHeaders(t *testing.T, c backendClient, s *dsSettings, tr timeRange, model map[string]any, headers map[string]string) backend.DataResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.QueryData(ctx, &backend.QueryDataRequest{PluginContext: s.context(), Headers: headers, Queries: []backend.DataQuery{dataQuery("A", tr, model)}})
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}
	dr, ok := resp.Responses["A"]
	if !ok {
		t.Fatalf("no response for A: %+v", resp.Responses)
	}
	return dr
}

func mustOK(t *testing.T, dr backend.DataResponse) data.Frames {
	t.Helper()
	if dr.Error != nil {
		t.Fatalf("query failed: %v (status %d)", dr.Error, dr.Status)
	}
	return dr.Frames
}

func field(t *testing.T, f *data.Frame, name string) *data.Field {
	t.Helper()
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl
		}
	}
	t.Fatalf("frame %q has no field %q", f.Name, name)
	return nil
}

func floatAt(f *data.Field, i int) float64 {
	v, _ := f.FloatAt(i)
	return v
}

func notices(frames data.Frames) []data.Notice {
	var out []data.Notice
	for _, f := range frames {
		if f.Meta != nil {
			out = append(out, f.Meta.Notices...)
		}
	}
	return out
}

// callResource performs one resource call and returns status and body.
func callResource(t *testing.T, c backendClient, s *dsSettings, method, path string, body any) (int, []byte) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	var status int
	var out []byte
	sender := backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
		if r.Status != 0 {
			status = r.Status
		}
		out = append(out, r.Body...)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.CallResource(ctx, &backend.CallResourceRequest{PluginContext: s.context(), Path: path, Method: method, URL: path, Body: raw,
		Headers: map[string][]string{"Content-Type": {"application/json"}}}, sender)
	if err != nil {
		t.Fatalf("CallResource %s %s: %v", method, path, err)
	}
	return status, out
}

func checkHealth(t *testing.T, c backendClient, s *dsSettings) *backend.CheckHealthResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: s.context()})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	return res
}

// silentListener accepts connections and never answers (a network fault injector).
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

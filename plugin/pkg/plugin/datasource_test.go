package plugin

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
)

func newDS(t *testing.T, jsonData string) *Datasource {
	t.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{JSONData: []byte(jsonData)})
	if err != nil {
		t.Fatal(err)
	}
	d := inst.(*Datasource)
	t.Cleanup(d.Dispose)
	return d
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func resource(t *testing.T, d *Datasource, method, path string) (int, string) {
	t.Helper()
	var status int
	var body []byte
	err := d.CallResource(context.Background(), &backend.CallResourceRequest{Method: method, Path: path, URL: path},
		backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
			status, body = r.Status, append(body, r.Body...)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return status, string(body)
}

func TestInvalidSettingsAreReportedByEveryCall(t *testing.T) {
	d := newDS(t, `{"agents":[{"name":"x","url":"nope"}]}`)
	res, err := d.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || res.Status != backend.HealthStatusError || !strings.Contains(res.Message, `agents[0].url "nope"`) {
		t.Errorf("health %+v %v", res, err)
	}
	resp, _ := d.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A", QueryType: "summary", JSON: []byte(`{"queryType":"summary"}`)}}})
	if dr := resp.Responses["A"]; dr.Status != backend.StatusBadRequest || dr.ErrorSource != backend.ErrorSourceDownstream {
		t.Errorf("query %+v", dr)
	}
	if status, body := resource(t, d, "GET", "agents"); status != 400 || !strings.Contains(body, "invalid data source settings") {
		t.Errorf("agents: %d %s", status, body)
	}
	if status, body := resource(t, d, "GET", "dimensions"); status != 200 || !strings.Contains(body, "dst_domain") {
		t.Errorf("dimensions: %d %s", status, body)
	}
}

// One query failing (unknown type) and one whose only agent is down both get their own
// response; nothing fails the request.
func TestEachQueryGetsItsOwnResponse(t *testing.T) {
	d := newDS(t, `{"agents":[{"name":"down","url":"http://`+closedPort(t)+`"}],"timeoutMs":500}`)
	tr := backend.TimeRange{From: time.Now().Add(-time.Hour), To: time.Now()}
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "A", QueryType: "pie", JSON: []byte(`{"queryType":"pie"}`), TimeRange: tr},
		{RefID: "B", QueryType: "top", JSON: []byte(`{"queryType":"top","groupBy":["src_ip"]}`), TimeRange: tr},
		{RefID: "C", QueryType: "top", JSON: []byte(`{"queryType":"top","groupBy":`), TimeRange: tr},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if dr := resp.Responses["A"]; dr.Status != backend.StatusBadRequest || !strings.Contains(dr.Error.Error(), `queryType "pie"`) {
		t.Errorf("A: %+v", dr)
	}
	if dr := resp.Responses["B"]; dr.Status != backend.StatusBadGateway || !strings.Contains(dr.Error.Error(), "agent down: connection refused") {
		t.Errorf("B: %+v", dr)
	}
	if dr := resp.Responses["C"]; dr.Status != backend.StatusBadRequest || !strings.Contains(dr.Error.Error(), "invalid query JSON") {
		t.Errorf("C: %+v", dr)
	}
}

func TestStatusMapping(t *testing.T) {
	e := func(k agentclient.Kind, status int) *agentclient.Error {
		return &agentclient.Error{Kind: k, HTTPStatus: status}
	}
	cases := []struct {
		failed []*agentclient.Error
		want   backend.Status
	}{
		{[]*agentclient.Error{e(agentclient.KindTimeout, 0), e(agentclient.KindTimeout, 504)}, backend.StatusTimeout},
		{[]*agentclient.Error{e(agentclient.KindUnauthorized, 401)}, backend.StatusUnauthorized},
		{[]*agentclient.Error{e(agentclient.KindHTTP, 400)}, backend.StatusBadRequest},
		{[]*agentclient.Error{e(agentclient.KindOverloaded, 429)}, backend.StatusTooManyRequests},
		{[]*agentclient.Error{e(agentclient.KindTimeout, 0), e(agentclient.KindRefused, 0)}, backend.StatusBadGateway},
	}
	for _, c := range cases {
		if got := statusOf(c.failed); got != c.want {
			t.Errorf("%v -> %v, want %v", c.failed, got, c.want)
		}
	}
	if !isFromAlerting(map[string]string{"FromAlert": "true"}) || isFromAlerting(map[string]string{"FromAlert": "false"}) {
		t.Error("FromAlert header not recognised")
	}
}

func TestDimensionsResourceIsJSON(t *testing.T) {
	d := newDS(t, `{"agents":[{"name":"a","url":"http://127.0.0.1:1"}]}`)
	_, body := resource(t, d, "GET", "dimensions")
	var v map[string][]any
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v["queryTypes"]) != 5 {
		t.Errorf("%s %v", body, err)
	}
}

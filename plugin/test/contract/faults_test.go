package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// faultAgents returns pseudo agents for network faults: a closed port, a listener that
// never answers and a server that sends garbage. They are fault injectors, not agents.
func faultAgents(t *testing.T) (dead, silent, garbage *agentProc) {
	t.Helper()
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("{\"kind\": oops"))
	}))
	t.Cleanup(junk.Close)
	return &agentProc{Name: "dead", URL: closedPortURL(t), Token: sharedToken},
		&agentProc{Name: "silent", URL: silentListener(t), Token: sharedToken},
		&agentProc{Name: "garbage", URL: junk.URL, Token: sharedToken}
}

func TestFailingAgentsBecomeANoticeNotAFailedPanel(t *testing.T) {
	h := need(t)
	real := h.Union[0]
	o := newOracle(t, real)
	dead, silent, garbage := faultAgents(t)
	s := settingsFor([]*agentProc{real, dead, silent, garbage}, map[string]any{"timeoutMs": 400})
	started := time.Now()
	dr := run(t, inProcessClient(t), s, o.tr, map[string]any{"queryType": "summary"})
	frames := mustOK(t, dr)
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("took %v with a 400ms agent timeout", d)
	}
	if got, want := floatAt(field(t, frames[0], "bytes"), 0), o.total("bytes"); got != want {
		t.Errorf("bytes %v, want the healthy agent's %v", got, want)
	}
	ns := notices(frames)
	if len(ns) == 0 || ns[0].Severity != data.NoticeSeverityWarning {
		t.Fatalf("notices %+v", ns)
	}
	for _, want := range []string{"3 of 4 agents missing (dead, garbage, silent)", "agent dead: connection refused", "agent silent: timeout after 400ms", "agent garbage: "} {
		if !strings.Contains(ns[0].Text, want) {
			t.Errorf("notice %q lacks %q", ns[0].Text, want)
		}
	}
}

func TestAllAgentsFailingIsADownstreamError(t *testing.T) {
	need(t)
	dead, silent, _ := faultAgents(t)
	s := settingsFor([]*agentProc{dead, silent}, map[string]any{"timeoutMs": 300})
	tr := timeRange{from: time.Now().Add(-time.Hour), to: time.Now()}
	dr := run(t, inProcessClient(t), s, tr, map[string]any{"queryType": "top", "groupBy": []string{"src_ip"}})
	if dr.Error == nil {
		t.Fatal("no error")
	}
	if dr.ErrorSource != backend.ErrorSourceDownstream || dr.Status != backend.StatusBadGateway {
		t.Errorf("source %q status %d", dr.ErrorSource, dr.Status)
	}
	for _, want := range []string{"no agent answered", "agent dead: connection refused", "agent silent: timeout after 300ms"} {
		if !strings.Contains(dr.Error.Error(), want) {
			t.Errorf("error %q lacks %q", dr.Error, want)
		}
	}
	// Only timeouts: status timeout.
	s2 := settingsFor([]*agentProc{silent}, map[string]any{"timeoutMs": 200})
	if dr := run(t, inProcessClient(t), s2, tr, map[string]any{"queryType": "summary"}); dr.Status != backend.StatusTimeout {
		t.Errorf("status %d for a timeout, want %d (%v)", dr.Status, backend.StatusTimeout, dr.Error)
	}
}

func TestWrongTokenIsUnauthorisedFromTheRealAgent(t *testing.T) {
	h := need(t)
	s := settingsFor(h.Union[:1], nil)
	s.secure = map[string]string{"token": "wrong"}
	tr := timeRange{from: time.Now().Add(-time.Hour), to: time.Now()}
	dr := run(t, inProcessClient(t), s, tr, map[string]any{"queryType": "summary"})
	if dr.Status != backend.StatusUnauthorized || !strings.Contains(dr.Error.Error(), "HTTP 401 unauthorised: check secureJsonData token."+h.Union[0].Name) {
		t.Errorf("status %d error %v", dr.Status, dr.Error)
	}
}

func TestHealthCheckReportsEachAgent(t *testing.T) {
	h := need(t)
	dead, silent, garbage := faultAgents(t)
	future := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"node":"future","version":"9.0.0","api_version":2}`))
	}))
	t.Cleanup(future.Close)
	wrongVersion := &agentProc{Name: "future", URL: future.URL, Token: sharedToken}
	locked := &agentProc{Name: h.Union[1].Name, URL: h.Union[1].URL} // real agent, wrong token below
	c := inProcessClient(t)
	s := settingsFor([]*agentProc{h.Union[0], dead, silent, garbage, wrongVersion, locked}, map[string]any{"timeoutMs": 300})
	s.secure = map[string]string{"token": sharedToken, "token." + locked.Name: "not-the-token"}
	res := checkHealth(t, c, s)
	if res.Status != backend.HealthStatusError || !strings.HasPrefix(res.Message, "Degraded: 5 of 6 agents failing") {
		t.Fatalf("%v %s", res.Status, res.Message)
	}
	for _, want := range []string{"dead (connection refused", "silent (timeout after 300ms", "garbage (invalid JSON from /info",
		"future (version mismatch: agent speaks api_version 2, this plugin speaks 1)", locked.Name + " (HTTP 401 unauthorised"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q lacks %q", res.Message, want)
		}
	}
	if !strings.Contains(string(res.JSONDetails), "OK agent-a: ok, agent version") {
		t.Errorf("details %s", res.JSONDetails)
	}
	all := checkHealth(t, c, settingsFor([]*agentProc{dead}, nil))
	if all.Status != backend.HealthStatusError || !strings.HasPrefix(all.Message, "All 1 agents failing") {
		t.Errorf("%v %s", all.Status, all.Message)
	}
}

// A query to an agent speaking another api_version is refused with a notice, not misread.
func TestWrongAPIVersionAgentIsLeftOutOfQueries(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union[0])
	future := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/info" {
			_, _ = w.Write([]byte(`{"node":"future","version":"9.0.0","api_version":2}`))
			return
		}
		t.Errorf("agent with api_version 2 was queried: %s", r.URL.Path)
	}))
	t.Cleanup(future.Close)
	s := settingsFor([]*agentProc{h.Union[0], {Name: "future", URL: future.URL, Token: sharedToken}}, nil)
	frames := mustOK(t, run(t, inProcessClient(t), s, o.tr, map[string]any{"queryType": "summary"}))
	if ns := notices(frames); len(ns) != 1 || !strings.Contains(ns[0].Text, "agent future: version mismatch: agent speaks api_version 2") {
		t.Errorf("notices %+v", ns)
	}
	if got, want := floatAt(field(t, frames[0], "bytes"), 0), o.total("bytes"); got != want {
		t.Errorf("bytes %v, want %v", got, want)
	}
}

func TestInvalidSettingsAndQueriesGetClearMessages(t *testing.T) {
	need(t)
	c := inProcessClient(t)
	bad := &dsSettings{rawJSON: `{"agents":[{"name":"a","url":"ftp://x"},{"name":"a","url":"http://y"}],"timeoutMs":1}`}
	res := checkHealth(t, c, bad)
	for _, want := range []string{"agents[0].url", "duplicate of agents[0]", "timeoutMs 1"} {
		if res.Status != backend.HealthStatusError || !strings.Contains(res.Message, want) {
			t.Errorf("health %v %q lacks %q", res.Status, res.Message, want)
		}
	}
	tr := timeRange{from: time.Now().Add(-time.Hour), to: time.Now()}
	if dr := run(t, c, bad, tr, map[string]any{"queryType": "summary"}); dr.Status != backend.StatusBadRequest || !strings.Contains(dr.Error.Error(), "invalid data source settings") {
		t.Errorf("query with bad settings: %d %v", dr.Status, dr.Error)
	}
	good := settingsFor([]*agentProc{{Name: "x", URL: closedPortURL(t)}}, nil)
	if dr := run(t, c, good, tr, map[string]any{"queryType": "pie"}); dr.Status != backend.StatusBadRequest || !strings.Contains(dr.Error.Error(), `queryType "pie": unknown`) {
		t.Errorf("unknown query type: %d %v", dr.Status, dr.Error)
	}
	if dr := run(t, c, good, tr, map[string]any{"queryType": "summary", "filters": []map[string]any{{"field": "src_ip", "op": "eq", "value": "$ip"}}}); dr.Status != backend.StatusBadRequest || !strings.Contains(dr.Error.Error(), "template variable $ip is not resolved") {
		t.Errorf("unresolved variable: %d %v", dr.Status, dr.Error)
	}
}

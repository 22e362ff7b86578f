package contract

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Fault injection on the plugin side, through the built executable launched over go-plugin:
// agents that answer far more than asked or more than a query's memory bound, measured by
// the executable's peak RSS, and agent URLs carrying credentials. The flooding agents are
// fault injectors (they speak /info and stream valid rows), next to a real agent.

// floodAgent answers /info like an agent and every query with `offer` bytes of valid
// result entries (as long as the client reads), counting the bytes it got out.
type floodAgent struct {
	proc    *agentProc
	written atomic.Int64
}

const floodOffer = 200 << 20

// newFloodAgent streams, for a top query, rows with distinct src_ip keys (about 150 bytes
// each); for a flows query, records whose name is bigBytes long.
func newFloodAgent(t *testing.T, name string, offer int64, bigBytes int) *floodAgent {
	t.Helper()
	f := &floodAgent{}
	big := strings.Repeat("x", bigBytes)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/info" {
			_, _ = fmt.Fprintf(w, `{"node":%q,"version":"0.0.0","api_version":1}`, name)
			return
		}
		var q models.Query
		_ = json.NewDecoder(r.Body).Decode(&q)
		write := func(s string) bool {
			n, err := w.Write([]byte(s))
			f.written.Add(int64(n))
			return err == nil && r.Context().Err() == nil
		}
		totals := `{"bytes":1,"bytes_tx":1,"bytes_rx":0,"packets":1,"packets_tx":1,"packets_rx":0,"flows":1}`
		var entry func(i int) string
		var head, tail string
		switch q.Kind {
		case models.KindTop:
			head, tail = `{"kind":"top","group_by":["src_ip"],"metric":"bytes","rows":[`, `],"other":{"groups":0,"value":0,"totals":`+totals+`},"total":`+totals+`}`
			entry = func(i int) string {
				return fmt.Sprintf(`{"key":{"src_ip":"10.%d.%d.%d"},"value":1,"totals":%s}`, i>>16&255, i>>8&255, i&255, totals)
			}
		case models.KindFlows:
			head, tail = `{"kind":"flows","records":[`, `],"next_cursor":null}`
			entry = func(i int) string {
				return `{"flow_id":"f` + strconv.Itoa(i) + `","seq":0,"record_kind":"final","end_reason":"idle_timeout","node":"` + name + `",` +
					`"interface":"wg0","flow_start_us":1,"start_us":1,"end_us":2,"direction":"outbound","ip_version":4,"protocol":"udp",` +
					`"protocol_number":17,"src_ip":"10.0.0.1","src_port":1,"dst_ip":"10.0.0.2","dst_port":2,"src_name":"` + big + `",` +
					`"src_type":"node","dst_name":"","dst_type":"unknown","dst_domain":"","icmp_type":null,"icmp_code":null,"packets_tx":1,` +
					`"packets_rx":0,"bytes_tx":1,"bytes_rx":0,"tcp_flags_src":0,"tcp_flags_dst":0,"conn_state":null,"community_id":""}`
			}
		default:
			http.Error(w, `{"error":"bad_request","message":"flood agent: top and flows only"}`, http.StatusBadRequest)
			return
		}
		if !write(head) {
			return
		}
		for i := 0; f.written.Load() < offer; i++ {
			sep := ","
			if i == 0 {
				sep = ""
			}
			if !write(sep + entry(i)) {
				return
			}
		}
		write(tail)
	}))
	t.Cleanup(server.Close)
	f.proc = &agentProc{Name: name, URL: server.URL, Token: sharedToken}
	return f
}

// peakRSS reads the process's peak resident set size (VmHWM) and its current one (VmRSS), in bytes.
func peakRSS(t *testing.T, pid int) (peak, now int64) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the plugin's memory figures: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	return peak, now
}

// resetPeakRSS starts a new peak measurement (Linux: writing 5 to clear_refs resets VmHWM).
func resetPeakRSS(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the plugin's peak RSS: %v", err)
	}
}

func TestAgentRepliesAreBoundedByWhatTheQueryAskedAndByItsMemoryBound(t *testing.T) {
	h := need(t)
	real := h.Union[0]
	o := newOracle(t, real)
	p := launch(t, sharedExecutable(t, h))
	_, idle := peakRSS(t, p.Pid)

	t.Run("4 agents answering a top query with 200 MB of rows each", func(t *testing.T) {
		floods := []*floodAgent{}
		agents := []*agentProc{real}
		for i := 1; i <= 4; i++ {
			f := newFloodAgent(t, fmt.Sprintf("flood-%d", i), floodOffer, 0)
			floods = append(floods, f)
			agents = append(agents, f.proc)
		}
		resetPeakRSS(t, p.Pid)
		started := time.Now()
		frames := mustOK(t, run(t, p, settingsFor(agents, nil), o.tr, map[string]any{"queryType": "top", "groupBy": []string{"src_ip"}, "limit": 10}))
		peak, after := peakRSS(t, p.Pid)
		want := o.top("bytes", func(r models.FlowRecord) string { return r.SrcIP })
		if got := field(t, frames[0], "src_ip").At(0).(string); got != want[0].key {
			t.Errorf("top source %s, the real agent's is %s", got, want[0].key)
		}
		ns := notices(frames)
		if len(ns) == 0 || !strings.Contains(ns[0].Text, "4 of 5 agents missing") {
			t.Fatalf("notices %+v", ns)
		}
		for i, f := range floods {
			msg := fmt.Sprintf("agent flood-%d: bad top reply: rows has more than the %d entries the query asked for", i+1, models.DefaultRowBudget)
			if !strings.Contains(ns[0].Text, msg) {
				t.Errorf("notice %q lacks %q", ns[0].Text, msg)
			}
			if n := f.written.Load(); n >= floodOffer {
				t.Errorf("flood-%d got its whole %d MiB reply read", i+1, n>>20)
			}
		}
		took := time.Since(started)
		time.Sleep(3 * time.Second)
		_, later := peakRSS(t, p.Pid)
		t.Logf("plugin RSS: idle %d MiB, peak %d MiB, after %d MiB, 3 s later %d MiB (%.1f s)", idle>>20, peak>>20, after>>20, later>>20, took.Seconds())
		if peak > 512<<20 || later > 128<<20 {
			t.Errorf("RSS peak %d MiB, %d MiB still held 3 s later", peak>>20, later>>20)
		}
	})

	t.Run("4 agents answering a flows page with 300 MB of records each: the memory bound stops them", func(t *testing.T) {
		agents := []*agentProc{}
		for i := 1; i <= 4; i++ {
			agents = append(agents, newFloodAgent(t, fmt.Sprintf("big-%d", i), 300<<20, 200<<10).proc)
		}
		resetPeakRSS(t, p.Pid)
		started := time.Now()
		dr := run(t, p, settingsFor(agents, nil), o.tr, map[string]any{"queryType": "flows", "limit": 1000})
		peak, after := peakRSS(t, p.Pid)
		if dr.Error == nil || dr.ErrorSource != backend.ErrorSourceDownstream {
			t.Fatalf("want every agent refused, got %v (%s)", dr.Error, dr.ErrorSource)
		}
		for i := 1; i <= 4; i++ {
			msg := fmt.Sprintf("agent big-%d: reply not used: this agent's share of the query's memory bound for agent replies (%d MiB: maxQueryMemoryMB %d MiB split over the 4 agents asked)",
				i, models.DefaultQueryMemoryMB/4, models.DefaultQueryMemoryMB)
			if !strings.Contains(dr.Error.Error(), msg) {
				t.Errorf("error %q lacks %q", dr.Error, msg)
			}
		}
		took := time.Since(started)
		time.Sleep(3 * time.Second)
		_, later := peakRSS(t, p.Pid)
		t.Logf("plugin RSS: peak %d MiB, after %d MiB, 3 s later %d MiB (%.1f s)", peak>>20, after>>20, later>>20, took.Seconds())
		if peak > 1024<<20 || later > 128<<20 {
			t.Errorf("RSS peak %d MiB for a %d MiB bound, %d MiB still held 3 s later", peak>>20, models.DefaultQueryMemoryMB, later>>20)
		}
	})

	t.Run("the bound is the data source's maxQueryMemoryMB, split over the agents: a flooding one leaves the others their share", func(t *testing.T) {
		agents := []*agentProc{real, newFloodAgent(t, "big", 300<<20, 200<<10).proc}
		frames := mustOK(t, run(t, p, settingsFor(agents, map[string]any{"maxQueryMemoryMB": 32}), o.tr, map[string]any{"queryType": "flows", "limit": 1000}))
		if n := frames[0].Rows(); n != len(o.all) {
			t.Errorf("%d records, the real agent has %d", n, len(o.all))
		}
		want := "agent big: reply not used: this agent's share of the query's memory bound for agent replies (16 MiB: maxQueryMemoryMB 32 MiB split over the 2 agents asked)"
		if ns := notices(frames); len(ns) == 0 || !strings.Contains(ns[0].Text, want) {
			t.Errorf("notices %+v lack %q", ns, want)
		}
	})
}

func TestCredentialsInAgentURLsAreNeverShown(t *testing.T) {
	h := need(t)
	real := h.Union[0]
	o := newOracle(t, real)
	withCredentials := func(url string) string { return strings.Replace(url, "http://", "http://flowuser:s3cret-pw@", 1) }
	secretFree := func(where, text string) {
		t.Helper()
		if strings.Contains(text, "s3cret-pw") || strings.Contains(text, "flowuser") {
			t.Errorf("%s shows the URL's credentials: %s", where, text)
		}
	}
	p := launch(t, sharedExecutable(t, h))
	// A real agent (the bearer token is sent, the URL's user is not) and a dead one, both with credentials in the URL.
	agents := []*agentProc{
		{Name: real.Name, URL: withCredentials(real.URL), Token: real.Token},
		{Name: "dead", URL: withCredentials(closedPortURL(t)), Token: sharedToken},
		{Name: "silent", URL: withCredentials(silentListener(t)), Token: sharedToken},
	}
	// Long enough for the real agent on a loaded machine; the silent one costs this much per call.
	s := settingsFor(agents, map[string]any{"timeoutMs": 3000})

	frames := mustOK(t, run(t, p, s, o.tr, map[string]any{"queryType": "summary"}))
	ns := notices(frames)
	if len(ns) == 0 || !strings.Contains(ns[0].Text, "connection refused at http://xxxxx@127.0.0.1:") {
		t.Fatalf("notices %+v", ns)
	}
	secretFree("the panel notice", ns[0].Text)

	health := checkHealth(t, p, s)
	secretFree("the health message", health.Message)
	secretFree("the health details", string(health.JSONDetails))
	if !strings.Contains(string(health.JSONDetails), `"url":"http://xxxxx@127.0.0.1:`) {
		t.Errorf("health details do not show the redacted URLs: %s", health.JSONDetails)
	}
	_, body := callResource(t, p, s, "GET", "agents", nil)
	secretFree("GET agents", string(body))
	_, body = callResource(t, p, s, "POST", "values", map[string]any{"dimension": "node", "from": o.tr.from.UnixMilli(), "to": o.tr.to.UnixMilli()})
	secretFree("POST values", string(body))

	bad := &dsSettings{rawJSON: `{"agents":[{"name":"a","url":"ftp://flowuser:s3cret-pw@h:1"}]}`}
	secretFree("a settings error", checkHealth(t, p, bad).Message)
}

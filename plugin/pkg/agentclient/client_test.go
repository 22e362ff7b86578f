package agentclient

// Error mapping against real sockets. The servers here are network fault injectors (a
// closed port, a listener that never answers, replies with broken bodies), not imitations
// of the agent: the agent itself is exercised in plugin/test/contract.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

func newClient(t *testing.T, url string, timeout time.Duration) *Client {
	t.Helper()
	tr, err := NewTransport(false, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return New(models.AgentConfig{Name: "node-a", URL: url}, "secret", timeout, tr)
}

func summaryQuery() models.Query {
	return models.Query{Kind: models.KindSummary, From: 0, To: 1000}
}

func expectError(t *testing.T, err error, kind Kind, parts ...string) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *agentclient.Error", err)
	}
	if ae.Kind != kind {
		t.Errorf("kind %q, want %q (%v)", ae.Kind, kind, err)
	}
	for _, p := range append(parts, "agent node-a") {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("message %q lacks %q", err.Error(), p)
		}
	}
	return ae
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefusedNamesAgentAndURL(t *testing.T) {
	addr := closedPort(t)
	var out models.SummaryResult
	err := newClient(t, "http://"+addr, time.Second).Query(context.Background(), summaryQuery(), &out)
	expectError(t, err, KindRefused, "connection refused", addr)
}

// A listener that accepts and never answers: the per-agent timeout must fire and say so.
func TestSilentAgentTimesOutWithAgentAndTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	started := time.Now()
	var out models.SummaryResult
	err = newClient(t, "http://"+l.Addr().String(), 300*time.Millisecond).Query(context.Background(), summaryQuery(), &out)
	expectError(t, err, KindTimeout, "timeout after 300ms")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cause should be context.DeadlineExceeded: %v", err)
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func serve(t *testing.T, h http.HandlerFunc) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func TestBadRepliesAreClearErrors(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		kind   Kind
		want   string
	}{
		"garbage":        {200, "<html>oops", KindBadReply, "bad JSON in reply"},
		"truncated":      {200, `{"kind":"summary","total":{`, KindBadReply, "bad JSON in reply"},
		"wrong kind":     {200, `{"kind":"flows","records":[],"next_cursor":null}`, KindBadReply, `kind "flows", expected "summary"`},
		"missing member": {200, `{"kind":"summary"}`, KindBadReply, `lacks member "total"`},
		"wrong type":     {200, `{"kind":"summary","total":"x","records":1,"first_us":null,"last_us":null,"distinct_src_ips":0,"distinct_dst_ips":0,"by_direction":{},"by_protocol":{}}`, KindBadReply, "bad summary reply"},
		"unknown member": {200, `{"kind":"summary","total":{"bytes":1,"bytes_tx":1,"bytes_rx":0,"packets":1,"packets_tx":1,"packets_rx":0,"flows":1},"records":1,"first_us":null,"last_us":null,"distinct_src_ips":0,"distinct_dst_ips":0,"by_direction":{},"by_protocol":{},"surprise":1}`, KindBadReply, `unknown member "surprise"`},
		"401":            {401, `{"error":"unauthorized","message":"invalid token"}`, KindUnauthorized, "HTTP 401 unauthorised: check secureJsonData token.node-a"},
		"400":            {400, `{"error":"bad_request","message":"filters/0/op: unknown op","field":"filters/0/op"}`, KindHTTP, "HTTP 400: filters/0/op: unknown op (field filters/0/op)"},
		"429":            {429, `{"error":"busy","message":"too many concurrent queries"}`, KindOverloaded, "HTTP 429"},
		"504":            {504, `{"error":"timeout","message":"query timed out after 30000ms"}`, KindTimeout, "query timed out"},
		"500 no body":    {500, ``, KindHTTP, "HTTP 500: (empty body)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer secret" {
					t.Errorf("token not sent: %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			})
			var out models.SummaryResult
			err := newClient(t, url, time.Second).Query(context.Background(), summaryQuery(), &out)
			expectError(t, err, c.kind, c.want)
		})
	}
}

func TestInfoChecksAPIVersion(t *testing.T) {
	for body, want := range map[string]Kind{
		`{"api_version":2,"version":"9.0.0","node":"x"}`: KindVersion,
		`{"version":"1"}`: KindBadReply,
		`not json`:        KindBadReply,
	} {
		url := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
		_, err := newClient(t, url, time.Second).Info(context.Background())
		ae := expectError(t, err, want)
		if want == KindVersion && !strings.Contains(ae.Message, "api_version 2, this plugin speaks 1") {
			t.Errorf("message %q", ae.Message)
		}
	}
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"api_version":1,"version":"0.1.0","node":"x","extra":true}`))
	})
	info, err := newClient(t, url, time.Second).Info(context.Background())
	if err != nil || info.Version != "0.1.0" {
		t.Fatalf("info %+v %v", info, err)
	}
}

func TestTimeseriesReplyMustBeConsistent(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"kind":"timeseries","interval_ms":1000,"metric":"bytes","split_by":[],"times":[0,1000],"series":[{"key":{},"other":false,"values":[1]}]}`))
	})
	var out models.TimeseriesResult
	err := newClient(t, url, time.Second).Query(context.Background(), models.Query{Kind: models.KindTimeseries}, &out)
	expectError(t, err, KindBadReply, "series[0] has 1 values for 2 times")
}

// endlessList serves `{"kind":..., <head>, "<member>":[entry, entry, ...` forever (until the
// client goes away) and reports how many bytes it wrote: an agent answering far more than asked.
func endlessList(t *testing.T, head, member, entry string) (url string, written func() int64) {
	var total atomic.Int64
	url = serve(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := fmt.Fprintf(w, `{%s,"%s":[%s`, head, member, entry)
		total.Add(int64(n))
		chunk := []byte(strings.Repeat(","+entry, 1000))
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			total.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	return url, total.Load
}

func TestMoreRowsThanAskedIsABadReplyFoundWhileStreaming(t *testing.T) {
	row := `{"key":{"src_ip":"10.0.0.1"},"value":1,"totals":{"bytes":1,"bytes_tx":1,"bytes_rx":0,"packets":1,"packets_tx":1,"packets_rx":0,"flows":1}}`
	url, written := endlessList(t, `"kind":"top","group_by":["src_ip"],"metric":"bytes"`, "rows", row)
	var out models.TopResult
	q := models.Query{Kind: models.KindTop, GroupBy: []string{"src_ip"}, Limit: models.Int64(10)}
	err := newClient(t, url, 10*time.Second).Query(context.Background(), q, &out)
	expectError(t, err, KindBadReply, "bad top reply: rows has more than the 10 entries the query asked for")
	// The client stopped at row 11 instead of reading on: the server got far less than the
	// reply's first megabytes out (socket buffers aside).
	time.Sleep(100 * time.Millisecond)
	if n := written(); n > 64<<20 {
		t.Errorf("the server wrote %d MiB before the client gave up", n>>20)
	}
}

func TestEachAgentRepliesWithinItsShareOfTheQuerysMemoryBound(t *testing.T) {
	record := func(name string) string {
		return `{"flow_id":"f","seq":0,"record_kind":"final","end_reason":"idle_timeout","node":"n","interface":"wg0","flow_start_us":1,` +
			`"start_us":1,"end_us":2,"direction":"outbound","ip_version":4,"protocol":"udp","protocol_number":17,"src_ip":"10.0.0.1",` +
			`"src_port":1,"dst_ip":"10.0.0.2","dst_port":2,"src_name":"` + name + `","src_type":"node","dst_name":"","dst_type":"unknown",` +
			`"dst_domain":"","icmp_type":null,"icmp_code":null,"packets_tx":1,"packets_rx":0,"bytes_tx":1,"bytes_rx":0,` +
			`"tcp_flags_src":0,"tcp_flags_dst":0,"conn_state":null,"community_id":""}`
	}
	// Three records within the page size, each with a 3 MiB name: 9 MiB per reply.
	big := strings.Repeat("x", 3<<20)
	body := `{"kind":"flows","records":[` + record(big) + "," + record(big) + "," + record(big) + `],"next_cursor":null}`
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
	q := models.Query{Kind: models.KindFlows, Limit: models.Int64(100)}
	shares := NewShares(32<<20, 2) // 16 MiB for each of two agents
	a, b := newClient(t, url, 10*time.Second).WithBudget(shares[0]), newClient(t, url, 10*time.Second).WithBudget(shares[1])
	var out models.FlowsResult
	if err := a.Query(context.Background(), q, &out); err != nil || len(out.Records) != 3 {
		t.Fatalf("the first reply fits the share: %v", err)
	}
	// The same agent's second request of the same query draws on what is left of its share.
	err := a.Query(context.Background(), q, &out)
	expectError(t, err, KindMemory, "reply not used: this agent's share of the query's memory bound for agent replies (16 MiB: maxQueryMemoryMB 32 MiB split over the 2 agents asked) ran out")
	// The other agent has its own share, whatever the first one did.
	if err := b.Query(context.Background(), q, &out); err != nil {
		t.Errorf("the other agent's share: %v", err)
	}
}

func TestAReplyCutOffMidBodyIsATransportErrorNotABadReply(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"kind":"summary","total":{"bytes":`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	var out models.SummaryResult
	err := newClient(t, url, 300*time.Millisecond).Query(context.Background(), summaryQuery(), &out)
	expectError(t, err, KindTimeout, "timeout after 300ms")
}

func TestCredentialsInTheAgentURLAreNeverShown(t *testing.T) {
	addr := closedPort(t)
	c := newClient(t, "http://flowuser:s3cret-pass@"+addr, time.Second)
	if c.URL != "http://xxxxx@"+addr {
		t.Errorf("URL %q", c.URL)
	}
	var out models.SummaryResult
	err := c.Query(context.Background(), summaryQuery(), &out)
	expectError(t, err, KindRefused, "connection refused at http://xxxxx@"+addr)
	for _, secret := range []string{"flowuser", "s3cret-pass"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("message %q shows %q", err, secret)
		}
	}
	silent := newClient(t, "http://flowuser:s3cret-pass@"+serveSilently(t), 200*time.Millisecond)
	err = silent.Query(context.Background(), summaryQuery(), &out)
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "flowuser") {
		t.Errorf("timeout message %q shows the credentials", err)
	}
}

func serveSilently(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

// Members tagged omitempty in the result types (live, with include_open) may be absent; the others must be there.
func TestOptionalMembersMayBeLeftOut(t *testing.T) {
	q := models.Query{Kind: models.KindFlows, Limit: models.Int64(10)}
	for body, want := range map[string]string{
		`{"kind":"flows","records":[],"next_cursor":null}`: "",
		`{"kind":"flows","records":[],"next_cursor":null,"live":{"available":true,"as_of_us":5,"open_records":1,"pending_records":0,"omitted_records":0}}`: "",
		`{"kind":"flows","records":[],"live":null}`: `flows result lacks member "next_cursor"`,
	} {
		url := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
		var out models.FlowsResult
		err := newClient(t, url, time.Second).Query(context.Background(), q, &out)
		if want == "" && err != nil {
			t.Errorf("%s: %v", body, err)
		}
		if want != "" {
			expectError(t, err, KindBadReply, want)
		}
	}
}

package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	flowframes "github.com/flowmesh/flowmesh/plugin/pkg/frames"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// oracle holds every record of a set of agents, read straight from the agents.
type oracle struct {
	perAgent map[string][]models.FlowRecord
	all      []models.FlowRecord
	tr       timeRange
}

func newOracle(t *testing.T, agents ...*agentProc) *oracle {
	t.Helper()
	o := &oracle{perAgent: allRecords(t, agents...)}
	minStart, maxEnd := int64(math.MaxInt64), int64(0)
	for _, a := range agents {
		if len(o.perAgent[a.Name]) == 0 {
			t.Fatalf("agent %s holds no records: the capture import produced nothing", a.Name)
		}
		for _, r := range o.perAgent[a.Name] {
			o.all = append(o.all, r)
			minStart, maxEnd = min(minStart, r.StartUs), max(maxEnd, r.EndUs)
		}
	}
	t.Logf("oracle: %d records from %d agents", len(o.all), len(agents))
	o.tr = timeRange{from: time.UnixMilli(minStart / 1000), to: time.UnixMilli(maxEnd/1000 + 1)}
	return o
}

func metricOf(r models.FlowRecord, metric string) float64 {
	switch metric {
	case "bytes":
		return float64(r.BytesTx + r.BytesRx)
	case "packets":
		return float64(r.PacketsTx + r.PacketsRx)
	case "flows":
		if r.Seq == 0 {
			return 1
		}
		return 0
	}
	panic(metric)
}

type ranked struct {
	key   string
	value float64
}

// top groups the union by keyOf and ranks by metric, ties by key (the plugin's rule).
func (o *oracle) top(metric string, keyOf func(models.FlowRecord) string) []ranked {
	sums := map[string]float64{}
	for _, r := range o.all {
		sums[keyOf(r)] += metricOf(r, metric)
	}
	out := make([]ranked, 0, len(sums))
	for k, v := range sums {
		out = append(out, ranked{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].value != out[j].value {
			return out[i].value > out[j].value
		}
		return out[i].key < out[j].key
	})
	return out
}

func (o *oracle) total(metric string) float64 {
	t := 0.0
	for _, r := range o.all {
		t += metricOf(r, metric)
	}
	return t
}

func TestUnionTopEqualsTopOverAllRecords(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	c := inProcessClient(t)
	s := settingsFor(h.Union, nil)
	for _, metric := range []string{"bytes", "packets", "flows"} {
		t.Run(metric, func(t *testing.T) {
			const n = 5
			frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"src_ip"}, "metric": metric, "limit": n, "dedupe": "none"}))
			want := o.top(metric, func(r models.FlowRecord) string { return r.SrcIP })
			keys, values := field(t, frames[0], "src_ip"), field(t, frames[0], metric)
			rows := min(n, len(want))
			for i := 0; i < rows; i++ {
				if keys.At(i).(string) != want[i].key || floatAt(values, i) != want[i].value {
					t.Errorf("rank %d: plugin %s=%v, union %s=%v", i, keys.At(i), floatAt(values, i), want[i].key, want[i].value)
				}
			}
			rest := 0.0
			for _, w := range want[rows:] {
				rest += w.value
			}
			if len(want) > n {
				if keys.Len() != n+1 || keys.At(n).(string) != "other" || floatAt(values, n) != rest {
					t.Errorf("other row: %d rows, last %v=%v; want other=%v", keys.Len(), keys.At(keys.Len()-1), floatAt(values, keys.Len()-1), rest)
				}
			} else if keys.Len() != len(want) {
				t.Errorf("%d rows, want %d", keys.Len(), len(want))
			}
		})
	}
	// Say whether the data showed the case a per-agent top N gets wrong.
	union := o.top("bytes", func(r models.FlowRecord) string { return r.SrcIP })
	for name, recs := range o.perAgent {
		own := (&oracle{all: recs}).top("bytes", func(r models.FlowRecord) string { return r.SrcIP })
		if len(own) > 0 && own[0].key != union[0].key {
			t.Logf("agent %s's own top source %s differs from the union's %s", name, own[0].key, union[0].key)
		}
	}
}

func TestUnionSummaryEqualsAllRecords(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Union, nil), o.tr, map[string]any{"queryType": "summary", "dedupe": "none"}))
	f := frames[0]
	srcs, dsts := map[string]bool{}, map[string]bool{}
	for _, r := range o.all {
		srcs[r.SrcIP], dsts[r.DstIP] = true, true
	}
	for name, want := range map[string]float64{
		"bytes": o.total("bytes"), "packets": o.total("packets"), "flows": o.total("flows"),
		"records": float64(len(o.all)), "distinct_src_ips": float64(len(srcs)), "distinct_dst_ips": float64(len(dsts)),
	} {
		if got := floatAt(field(t, f, name), 0); got != want {
			t.Errorf("%s: plugin %v, union %v", name, got, want)
		}
	}
	if len(notices(frames)) != 0 {
		t.Errorf("unexpected notices %+v", notices(frames))
	}
}

func TestUnionTimeseriesSumsPerSeries(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Union, nil), o.tr, map[string]any{"queryType": "timeseries", "splitBy": []string{"protocol"}, "splitLimit": 0, "metric": "bytes", "dedupe": "none"}))
	want := map[string]float64{}
	for _, r := range o.all {
		want[r.Protocol] += metricOf(r, "bytes")
	}
	got := map[string]float64{}
	for _, f := range frames {
		if f.Meta.Type != data.FrameTypeTimeSeriesMulti {
			t.Fatalf("frame type %q", f.Meta.Type)
		}
		v := f.Fields[1]
		sum := 0.0
		for i := 0; i < v.Len(); i++ {
			sum += floatAt(v, i)
		}
		got[v.Labels["protocol"]] += sum
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("protocol %s: plugin %v, union %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

// recordKey identifies a record as the flows table shows it; several records can share
// it (e.g. a connection seen again in another capture file), so counts are compared.
func recordKey(node, flowID string, start, end time.Time, bytesTx, bytesRx int64) string {
	return fmt.Sprintf("%s|%s|%d|%d|%d|%d", node, flowID, start.UnixMicro(), end.UnixMicro(), bytesTx, bytesRx)
}

func TestFlowsPagingThroughThePanelIsExact(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	c := inProcessClient(t)
	s := settingsFor(h.Union, nil)
	for _, order := range []string{"newest", "oldest"} {
		t.Run(order, func(t *testing.T) {
			shown := map[string]int{}
			cursor := ""
			var last time.Time
			rows, pages := 0, 0
			for {
				model := map[string]any{"queryType": "flows", "limit": 37, "order": order, "dedupe": "none"}
				if cursor != "" {
					model["cursor"] = cursor
				}
				f := mustOK(t, run(t, c, s, o.tr, model))[0]
				starts, ends := field(t, f, "start"), field(t, f, "end")
				nodes, ids := field(t, f, "node"), field(t, f, "flow_id")
				tx, rx := field(t, f, "bytes_tx"), field(t, f, "bytes_rx")
				if starts.Len() > 37 || (starts.Len() < 37 && f.Meta.Custom.(map[string]any)["nextCursor"] != "") {
					t.Fatalf("page %d has %d rows and more pages follow", pages, starts.Len())
				}
				for i := 0; i < starts.Len(); i++ {
					st := starts.At(i).(time.Time)
					if rows > 0 && ((order == "newest" && st.After(last)) || (order == "oldest" && st.Before(last))) {
						t.Fatalf("page %d row %d starts %v, previous row %v: not %s first", pages, i, st, last, order)
					}
					last = st
					rows++
					shown[recordKey(nodes.At(i).(string), ids.At(i).(string), st, ends.At(i).(time.Time), tx.At(i).(int64), rx.At(i).(int64))]++
				}
				pages++
				cursor, _ = f.Meta.Custom.(map[string]any)["nextCursor"].(string)
				if cursor == "" {
					break
				}
				if pages > len(o.all)/37+5 {
					t.Fatal("paging does not end")
				}
			}
			held := map[string]int{}
			for _, r := range o.all {
				held[recordKey(r.Node, r.FlowID, time.UnixMicro(r.StartUs).UTC(), time.UnixMicro(r.EndUs).UTC(), r.BytesTx, r.BytesRx)]++
			}
			if order == "newest" {
				first := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "flows", "limit": 5, "order": order}))[0]
				next, _ := first.Meta.Custom.(map[string]any)["nextCursor"].(string)
				dr := run(t, c, s, o.tr, map[string]any{"queryType": "flows", "limit": 6, "order": order, "cursor": next})
				if dr.Error == nil || !strings.Contains(dr.Error.Error(), "cursor: it pages a different query") {
					t.Errorf("cursor reused with another page size: %v", dr.Error)
				}
			}
			if rows != len(o.all) {
				t.Errorf("paged %d rows over %d pages, agents hold %d records", rows, pages, len(o.all))
			}
			for k, n := range held {
				if shown[k] != n {
					t.Errorf("record %s shown %d times, agents hold it %d times", k, shown[k], n)
				}
			}
		})
	}
}

func TestTopologyNodesAndEdgesMatchUnion(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Union, nil), o.tr, map[string]any{"queryType": "topology", "limit": 20, "metric": "bytes", "dedupe": "none"}))
	if len(frames) != 2 || frames[0].Name != "nodes" || frames[1].Name != "edges" {
		t.Fatalf("frames %v", frames)
	}
	if frames[0].Meta.PreferredVisualization != data.VisTypeNodeGraph {
		t.Errorf("nodes frame visualisation %q", frames[0].Meta.PreferredVisualization)
	}
	want := o.top("bytes", func(r models.FlowRecord) string { return r.SrcIP + "->" + r.DstIP })
	edges := frames[1]
	ids, main := field(t, edges, "id"), field(t, edges, "mainstat")
	if ids.Len() != min(20, len(want)) {
		t.Fatalf("%d edges, want %d", ids.Len(), min(20, len(want)))
	}
	// The main stat is text (the Node Graph panel prints numbers unformatted): the union's
	// bytes, formatted, in the union's order.
	for i := 0; i < ids.Len(); i++ {
		if ids.At(i).(string) != want[i].key || main.At(i).(string) != flowframes.FormatBytes(want[i].value) {
			t.Errorf("edge %d: %s=%v, union %s=%v", i, ids.At(i), main.At(i), want[i].key, flowframes.FormatBytes(want[i].value))
		}
	}
	nodeIDs := map[string]bool{}
	for i := 0; i < frames[0].Fields[0].Len(); i++ {
		nodeIDs[frames[0].Fields[0].At(i).(string)] = true
	}
	for i := 0; i < ids.Len(); i++ {
		for _, end := range strings.Split(ids.At(i).(string), "->") {
			if !nodeIDs[end] {
				t.Errorf("edge end %s has no node", end)
			}
		}
	}
}

func TestResourcesAgainstRealAgents(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	c := inProcessClient(t)
	s := settingsFor(h.Union, nil)

	status, body := callResource(t, c, s, "GET", "agents", nil)
	var agents struct {
		Agents []struct {
			Name, Status, Version string
			OK                    bool
		}
	}
	if err := json.Unmarshal(body, &agents); status != 200 || err != nil || len(agents.Agents) != 3 {
		t.Fatalf("GET agents: %d %s", status, body)
	}
	for _, a := range agents.Agents {
		if !a.OK || a.Version == "" {
			t.Errorf("agent %+v not healthy", a)
		}
	}

	status, body = callResource(t, c, s, "POST", "values", map[string]any{"dimension": "protocol", "from": o.tr.from.UnixMilli(), "to": o.tr.to.UnixMilli()})
	var values struct {
		Values []struct {
			Value any
			Count int64
		}
		Complete bool
	}
	if err := json.Unmarshal(body, &values); status != 200 || err != nil {
		t.Fatalf("POST values: %d %s", status, body)
	}
	want := map[string]bool{}
	for _, r := range o.all {
		want[r.Protocol] = true
	}
	got := map[string]bool{}
	for _, v := range values.Values {
		got[fmt.Sprint(v.Value)] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || !values.Complete {
		t.Errorf("protocols %v (complete %v), union %v", got, values.Complete, want)
	}

	status, body = callResource(t, c, s, "POST", "values", map[string]any{"dimension": "src_mac"})
	if status != 400 || !strings.Contains(string(body), `dimension \"src_mac\"`) {
		t.Errorf("bad dimension: %d %s", status, body)
	}
	status, body = callResource(t, c, s, "GET", "dimensions", nil)
	if status != 200 || !strings.Contains(string(body), `"community_id"`) {
		t.Errorf("GET dimensions: %d %s", status, body)
	}
}

func TestCheckHealthAllAgentsOK(t *testing.T) {
	h := need(t)
	res := checkHealth(t, inProcessClient(t), settingsFor(h.Union, nil))
	if res.Status.String() != "OK" || !strings.Contains(res.Message, "All 3 agents OK") {
		t.Fatalf("health %v: %s", res.Status, res.Message)
	}
}

// latencyOf is one group's latency measurements over the union: sums, counts and maxima.
type latencyOf struct{ handshakes, synack, ack, handshakeMax, dns, dnsSum, dnsMax float64 }

func (l *latencyOf) add(r models.FlowRecord) {
	if r.TCPSynAckUs != nil && r.TCPAckUs != nil {
		l.handshakes++
		l.synack += float64(*r.TCPSynAckUs)
		l.ack += float64(*r.TCPAckUs)
		l.handshakeMax = max(l.handshakeMax, float64(*r.TCPSynAckUs+*r.TCPAckUs))
	}
	if r.DNSRttUs != nil {
		l.dns++
		l.dnsSum += float64(*r.DNSRttUs)
		l.dnsMax = max(l.dnsMax, float64(*r.DNSRttUs))
	}
}

func (l latencyOf) metric(m string) float64 {
	return models.Totals{Handshakes: l.handshakes, SynAckUsSum: l.synack, AckUsSum: l.ack, HandshakeUsMax: l.handshakeMax,
		DNSResponses: l.dns, DNSRttUsSum: l.dnsSum, DNSRttUsMax: l.dnsMax}.Metric(m)
}

// Latency across agents: averages merged from sums and counts and maxima as maxima equal
// the same statistics over the union of all records (an average of the agents' averages
// would not), as a top and as a time series.
func TestUnionLatencyMetricsAreExact(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	c := inProcessClient(t)
	s := settingsFor(h.Union, nil)
	measured := []models.Filter{{Field: "handshake_us", Op: "gte", Value: 0}}
	for _, metric := range []string{"handshake_us_avg", "handshake_us_max", "synack_us_avg", "ack_us_avg", "dns_rtt_us_avg", "dns_rtt_us_max"} {
		t.Run(metric, func(t *testing.T) {
			byDst := map[string]*latencyOf{}
			for _, r := range o.all {
				if byDst[r.DstIP] == nil {
					byDst[r.DstIP] = &latencyOf{}
				}
				byDst[r.DstIP].add(r)
			}
			want := make([]ranked, 0, len(byDst))
			for k, l := range byDst {
				want = append(want, ranked{k, l.metric(metric)})
			}
			sort.Slice(want, func(i, j int) bool {
				if want[i].value != want[j].value {
					return want[i].value > want[j].value
				}
				return want[i].key < want[j].key
			})
			if want[0].value == 0 {
				t.Fatalf("no %s measured in the captures", metric)
			}
			frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"dst_ip"}, "metric": metric, "limit": 5, "dedupe": "none"}))
			keys, values := field(t, frames[0], "dst_ip"), field(t, frames[0], metric)
			for i := 0; i < 5; i++ {
				if keys.At(i).(string) != want[i].key || floatAt(values, i) != want[i].value {
					t.Errorf("rank %d: plugin %s=%v, union %s=%v", i, keys.At(i), floatAt(values, i), want[i].key, want[i].value)
				}
			}
		})
	}
	// One series over the whole range: each bucket's average (a gap without measurements).
	const interval = int64(60_000)
	frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "timeseries", "metric": "handshake_us_avg", "interval": "1m", "dedupe": "none", "filters": measured}))
	byBucket := map[int64]*latencyOf{}
	for _, r := range o.all {
		if r.TCPSynAckUs == nil {
			continue
		}
		b := (r.StartUs / 1000) / interval * interval
		if byBucket[b] == nil {
			byBucket[b] = &latencyOf{}
		}
		byBucket[b].add(r)
	}
	times, values := frames[0].Fields[0], frames[0].Fields[1]
	compared := 0
	for i := 0; i < times.Len(); i++ {
		v := values.At(i).(*float64)
		l := byBucket[times.At(i).(time.Time).UnixMilli()]
		if l == nil {
			if v != nil {
				t.Errorf("bucket %v: %v without a measurement", times.At(i), *v)
			}
			continue
		}
		if v == nil || *v != l.metric("handshake_us_avg") {
			t.Errorf("bucket %v: plugin %v, union %v", times.At(i), v, l.metric("handshake_us_avg"))
		}
		compared++
	}
	if compared != len(byBucket) {
		t.Errorf("%d buckets compared, union has %d", compared, len(byBucket))
	}
}

// include_open against agents without a flow table (serve): the stored records, and a notice saying so.
func TestIncludeOpenOnServeAgentsSaysSo(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Union...)
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Union, nil), o.tr, map[string]any{"queryType": "summary", "dedupe": "none", "includeOpen": true}))
	if got := floatAt(field(t, frames[0], "bytes"), 0); got != o.total("bytes") {
		t.Errorf("bytes %v, union %v", got, o.total("bytes"))
	}
	n := notices(frames)
	if len(n) != 1 || !strings.Contains(n[0].Text, "agent-a, agent-b, agent-c have no flow table") {
		t.Errorf("notices %+v", n)
	}
}

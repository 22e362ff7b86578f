package federation

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

func totals(bytes float64) models.Totals {
	return models.Totals{Bytes: bytes, BytesTx: bytes, Packets: 1, PacketsTx: 1, Flows: 1}
}

func topOf(agent string, groupBy []string, rows map[string]float64) AgentTop {
	res := models.TopResult{Kind: "top", GroupBy: groupBy, Metric: "bytes"}
	for k, v := range rows {
		res.Rows = append(res.Rows, models.TopRow{Key: models.GroupKey{groupBy[0]: k}, Value: v, Totals: totals(v)})
		res.Total.Add(totals(v))
	}
	return AgentTop{Agent: agent, Result: res}
}

// The true winner is 3rd on every agent, so no agent's own top 1 (or 2) contains it; the
// merge must still rank it first because each agent sent all of its groups.
func TestMergeTopFindsWinnerInNoAgentsTopN(t *testing.T) {
	g := []string{"src_ip"}
	results := []AgentTop{
		topOf("a", g, map[string]float64{"10.0.0.1": 20, "10.0.0.2": 15, "10.9.9.9": 9}),
		topOf("b", g, map[string]float64{"10.0.0.3": 19, "10.0.0.4": 14, "10.9.9.9": 9}),
		topOf("c", g, map[string]float64{"10.0.0.5": 18, "10.0.0.6": 13, "10.9.9.9": 9}),
	}
	for _, r := range results {
		sort.Slice(r.Result.Rows, func(i, j int) bool { return r.Result.Rows[i].Value > r.Result.Rows[j].Value })
		if FormatValue(r.Result.Rows[0].Key["src_ip"]) == "10.9.9.9" || FormatValue(r.Result.Rows[1].Key["src_ip"]) == "10.9.9.9" {
			t.Fatal("test data broken: the winner must not be in any agent's top 2")
		}
	}
	m := MergeTop(results, g, "bytes", 2)
	if got := FormatValue(m.Rows[0].Key["src_ip"]); got != "10.9.9.9" || m.Rows[0].Value != 27 {
		t.Fatalf("top 1 = %s %v, want 10.9.9.9 27", got, m.Rows[0].Value)
	}
	if got := FormatValue(m.Rows[1].Key["src_ip"]); got != "10.0.0.1" {
		t.Errorf("top 2 = %s, want 10.0.0.1", got)
	}
	if m.Other.Groups != 5 || m.Other.Value != 15+19+14+18+13 {
		t.Errorf("other = %+v, want 5 groups worth %v", m.Other, 15+19+14+18+13)
	}
	if m.Total.Bytes != 27+20+15+19+14+18+13 || m.Total.Flows != 9 {
		t.Errorf("total = %+v", m.Total)
	}
	if len(m.Truncated) != 0 {
		t.Errorf("nothing was truncated, got %v", m.Truncated)
	}
}

type rec struct {
	agent, src, dst string
	bytes           float64
}

// Randomised: merging per-agent complete groupings equals grouping the union directly.
func TestMergeTopEqualsTopOverUnion(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	agents := []string{"a", "b", "c"}
	var records []rec
	for i := 0; i < 2000; i++ {
		records = append(records, rec{agents[rng.Intn(3)], fmt.Sprintf("10.0.0.%d", rng.Intn(40)), fmt.Sprintf("10.1.0.%d", rng.Intn(5)), float64(rng.Intn(100000))})
	}
	g := []string{"src_ip", "dst_ip"}
	union := map[string]float64{}
	perAgent := map[string]map[string]*models.TopRow{}
	for _, r := range records {
		key := r.src + "|" + r.dst
		union[key] += r.bytes
		if perAgent[r.agent] == nil {
			perAgent[r.agent] = map[string]*models.TopRow{}
		}
		row := perAgent[r.agent][key]
		if row == nil {
			row = &models.TopRow{Key: models.GroupKey{"src_ip": r.src, "dst_ip": r.dst}}
			perAgent[r.agent][key] = row
		}
		row.Totals.Add(totals(r.bytes))
		row.Value = row.Totals.Bytes
	}
	var results []AgentTop
	for _, a := range agents {
		res := models.TopResult{Kind: "top", GroupBy: g, Metric: "bytes"}
		for _, row := range perAgent[a] {
			res.Rows = append(res.Rows, *row)
			res.Total.Add(row.Totals)
		}
		results = append(results, AgentTop{Agent: a, Result: res})
	}
	m := MergeTop(results, g, "bytes", 10)
	type kv struct {
		k string
		v float64
	}
	var want []kv
	for k, v := range union {
		want = append(want, kv{k, v})
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].v != want[j].v {
			return want[i].v > want[j].v
		}
		return want[i].k < want[j].k
	})
	for i := 0; i < 10; i++ {
		got := FormatValue(m.Rows[i].Key["src_ip"]) + "|" + FormatValue(m.Rows[i].Key["dst_ip"])
		if got != want[i].k || m.Rows[i].Value != want[i].v {
			t.Fatalf("rank %d: got %s %v, want %s %v", i, got, m.Rows[i].Value, want[i].k, want[i].v)
		}
	}
	if m.Other.Groups != int64(len(want)-10) {
		t.Errorf("other groups %d, want %d", m.Other.Groups, len(want)-10)
	}
}

func TestMergeTopReportsAgentTruncation(t *testing.T) {
	r := topOf("b", []string{"src_ip"}, map[string]float64{"x": 5})
	r.Result.Other = models.TopOther{Groups: 3, Value: 7, Totals: totals(7)}
	r.Result.Total.Add(totals(7))
	m := MergeTop([]AgentTop{topOf("a", []string{"src_ip"}, map[string]float64{"x": 1}), r}, []string{"src_ip"}, "bytes", 10)
	if len(m.Truncated) != 1 || m.Truncated[0] != "b" || m.Other.Groups != 3 || m.Other.Value != 7 {
		t.Fatalf("truncation not carried: %+v", m)
	}
	if n := TruncationNotice(m.Truncated, 100, "groups"); n == "" {
		t.Error("no notice")
	}
}

func series(agent string, times []int64, split []string, s ...models.Series) AgentSeries {
	return AgentSeries{Agent: agent, Result: models.TimeseriesResult{Kind: "timeseries", IntervalMs: 60000, Metric: "bytes", SplitBy: split, Times: times, Series: s}}
}

// expectSeries fails unless the merged series, keyed by their value of label and each
// shown by show, are want.
func expectSeries(t *testing.T, m SeriesMerged, label string, show func(models.Series) string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, s := range m.Series {
		got[FormatValue(s.Key[label])] = show(s)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

func TestMergeTimeseriesSumsPerBucketAndKey(t *testing.T) {
	split := []string{"protocol"}
	a := series("a", []int64{0, 60000, 120000}, split,
		models.Series{Key: models.GroupKey{"protocol": "tcp"}, Values: []float64{1, 2, 3}},
		models.Series{Key: models.GroupKey{"protocol": "udp"}, Values: []float64{10, 0, 0}})
	b := series("b", []int64{60000, 120000, 180000}, split,
		models.Series{Key: models.GroupKey{"protocol": "tcp"}, Values: []float64{100, 200, 300}},
		models.Series{Key: models.GroupKey{"protocol": "icmp"}, Values: []float64{0, 0, 1}})
	m := MergeTimeseries([]AgentSeries{a, b}, split, "bytes", 0)
	if fmt.Sprint(m.Times) != "[0 60000 120000 180000]" {
		t.Fatalf("times %v", m.Times)
	}
	expectSeries(t, m, "protocol", func(s models.Series) string { return fmt.Sprint(s.Values) },
		map[string]string{"tcp": "[1 102 203 300]", "udp": "[10 0 0 0]", "icmp": "[0 0 0 1]"})
	if FormatValue(m.Series[0].Key["protocol"]) != "tcp" {
		t.Errorf("largest series first, got %v", m.Series[0].Key)
	}
	limited := MergeTimeseries([]AgentSeries{a, b}, split, "bytes", 1)
	if len(limited.Series) != 2 || !limited.Series[1].Other || fmt.Sprint(limited.Series[1].Values) != "[10 0 0 1]" {
		t.Fatalf("split limit 1: %+v", limited.Series)
	}
	if limited.Series[1].Key["protocol"] != OtherValue {
		t.Errorf("other series label %v", limited.Series[1].Key)
	}
}

// Averages merge weighted by their counts (the agents' averages of 3 and 1 measurements
// are not averaged as they come), maxima take the larger, and the "other" series and the
// ranking follow the same rules.
func TestMergeTimeseriesLatencyAveragesAndMaxima(t *testing.T) {
	split := []string{"dst_ip"}
	times := []int64{0, 60000}
	a := series("a", times, split,
		models.Series{Key: models.GroupKey{"dst_ip": "10.0.0.1"}, Values: []float64{100.0 / 3, 0}, Counts: []float64{3, 0}},
		models.Series{Key: models.GroupKey{"dst_ip": "10.0.0.2"}, Values: []float64{500, 0}, Counts: []float64{1, 0}})
	b := series("b", times, split,
		models.Series{Key: models.GroupKey{"dst_ip": "10.0.0.1"}, Values: []float64{300, 20}, Counts: []float64{1, 2}},
		models.Series{Key: models.GroupKey{"dst_ip": "10.0.0.3"}, Values: []float64{0, 7}, Counts: []float64{0, 1}})
	m := MergeTimeseries([]AgentSeries{a, b}, split, "handshake_us_avg", 0)
	// 10.0.0.1: (100 + 300) / 4 = 100 in the first bucket, 20 in the second
	expectSeries(t, m, "dst_ip", func(s models.Series) string { return fmt.Sprint(s.Values, s.Counts) },
		map[string]string{"10.0.0.1": "[100 20] [4 2]", "10.0.0.2": "[500 0] [1 0]", "10.0.0.3": "[0 7] [0 1]"})
	if FormatValue(m.Series[0].Key["dst_ip"]) != "10.0.0.2" {
		t.Errorf("ranked by the average over the range: 10.0.0.2 (500) first, got %v", m.Series[0].Key)
	}
	limited := MergeTimeseries([]AgentSeries{a, b}, split, "handshake_us_avg", 1)
	if other := limited.Series[1]; !other.Other || fmt.Sprint(other.Values, other.Counts) != "[100 15.666666666666666] [4 3]" {
		t.Errorf("other = %+v", other)
	}

	maxA := series("a", times, nil, models.Series{Key: models.GroupKey{}, Values: []float64{40, 5}})
	maxB := series("b", times, nil, models.Series{Key: models.GroupKey{}, Values: []float64{30, 9}})
	if m := MergeTimeseries([]AgentSeries{maxA, maxB}, nil, "handshake_us_max", 0); fmt.Sprint(m.Series[0].Values) != "[40 9]" {
		t.Errorf("maxima %v, want [40 9]", m.Series[0].Values)
	}
}

// A top by average latency ranks by the merged average, not by any agent's, and "other"
// keeps the largest maximum.
func TestMergeTopLatencyFromTotals(t *testing.T) {
	g := []string{"dst_ip"}
	row := func(ip string, handshakes, synack, ack, maxUs float64) models.TopRow {
		tot := models.Totals{Handshakes: handshakes, SynAckUsSum: synack, AckUsSum: ack, HandshakeUsMax: maxUs}
		return models.TopRow{Key: models.GroupKey{"dst_ip": ip}, Value: tot.Metric("handshake_us_avg"), Totals: tot}
	}
	agent := func(name string, rows ...models.TopRow) AgentTop {
		res := models.TopResult{Rows: rows}
		for _, r := range rows {
			res.Total.Add(r.Totals)
		}
		return AgentTop{Agent: name, Result: res}
	}
	a := agent("a", row("x", 1, 900, 100, 1000), row("y", 10, 5000, 1000, 2000))
	b := agent("b", row("x", 9, 0, 90, 50), row("z", 2, 1000, 200, 5000))
	m := MergeTop([]AgentTop{a, b}, g, "handshake_us_avg", 2)
	// x: (900 + 100 + 90) / 10 = 109, although on agent a alone it was the largest (1000)
	got := fmt.Sprintf("%v %v %v %v %v %v", m.Rows[0].Key["dst_ip"], m.Rows[0].Value, m.Rows[1].Key["dst_ip"], m.Rows[1].Value, m.Other.Value, m.Other.Totals.HandshakeUsMax)
	if got != "y 600 z 600 109 1000" {
		t.Errorf("got %s, want y 600 z 600 109 1000", got)
	}
	if m.Total.HandshakeUsMax != 5000 || m.Total.Handshakes != 22 {
		t.Errorf("total %+v", m.Total)
	}
}

// bytesTop is one agent's top answer by bytes over groupBy: these rows, their totals summed as
// the agent's total.
func bytesTop(agent string, groupBy []string, rows ...models.TopRow) AgentTop {
	r := models.TopResult{Kind: "top", GroupBy: groupBy, Metric: "bytes", Rows: rows}
	for _, x := range rows {
		r.Total.Add(x.Totals)
	}
	return AgentTop{Agent: agent, Result: r}
}

func TestDedupeTopKeepsPreferredReporter(t *testing.T) {
	g := WithDedupeDims([]string{"dst_port"})
	row := func(cid, dir string, port int, bytes float64) models.TopRow {
		return models.TopRow{Key: models.GroupKey{"community_id": cid, "direction": dir, "dst_port": port}, Value: bytes, Totals: totals(bytes)}
	}
	mk := func(agent string, rows ...models.TopRow) AgentTop { return bytesTop(agent, g, rows...) }
	results := []AgentTop{
		// c1: inbound on gw, outbound on laptop -> laptop's outbound kept.
		mk("gw", row("c1", "inbound", 443, 100), row("c2", "forwarded", 53, 7), row("", "inbound", 22, 5)),
		mk("laptop", row("c1", "outbound", 443, 110), row("c3", "inbound", 80, 3)),
		// c2: forwarded on gw and on relay -> tie on direction, agent name gw < relay wins.
		mk("relay", row("c2", "forwarded", 53, 8), row("c3", "inbound", 80, 4)),
	}
	m := MergeTop(DedupeTop(results, []string{"dst_port"}), []string{"dst_port"}, "bytes", 0)
	got := map[string]float64{}
	for _, r := range m.Rows {
		got[FormatValue(r.Key["dst_port"])] = r.Value
	}
	// c3 inbound on laptop and relay -> laptop (name order) keeps 3.
	want := map[string]float64{"443": 110, "53": 7, "80": 3, "22": 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deduped %v, want %v", got, want)
	}
	if m.Total.Bytes != 110+7+3+5 {
		t.Errorf("total %v", m.Total.Bytes)
	}
}

func TestDedupeRecordsOnePerConnection(t *testing.T) {
	recs := []models.FlowRecord{
		{FlowID: "1", CommunityID: "c1", Direction: "inbound", Node: "gw"},
		{FlowID: "2", CommunityID: "c1", Direction: "outbound", Node: "laptop"},
		{FlowID: "3", CommunityID: "c1", Direction: "outbound", Node: "laptop", Seq: 1},
		{FlowID: "4", CommunityID: "", Direction: "inbound", Node: "gw"},
	}
	agents := []string{"gw", "laptop", "laptop", "gw"}
	out := DedupeRecords(recs, func(i int) string { return agents[i] })
	if len(out) != 2 || out[0].FlowID != "2" || out[1].FlowID != "4" {
		t.Fatalf("got %+v", out)
	}
}

// A laptop's HTTPS through a masquerading gateway, with an agent also on the server
// behind it: the laptop reports the pre-NAT tuple (cA), the server the post-NAT one (cB),
// the gateway its tunnel leg (cA, link cB). One connection: the laptop's report is kept.
// Time series: the same rule picks the second reports each agent leaves out.
func TestDedupeJoinsBothSidesOfANAT(t *testing.T) {
	g := WithDedupeDims([]string{"node"})
	row := func(cid, link, dir, node string, bytes float64) models.TopRow {
		return models.TopRow{Key: models.GroupKey{"community_id": cid, "link_id": link, "direction": dir, "node": node}, Value: bytes, Totals: totals(bytes)}
	}
	mk := func(agent string, rows ...models.TopRow) AgentTop { return bytesTop(agent, g, rows...) }
	results := []AgentTop{
		mk("server", row("cB", "", "inbound", "server", 90)),
		mk("gw", row("cA", "cB", "forwarded", "gw", 95), row("cC", "", "outbound", "gw", 4)),
		mk("laptop", row("cA", "", "outbound", "laptop", 100)),
	}
	m := MergeTop(DedupeTop(results, []string{"node"}), []string{"node"}, "bytes", 0)
	got := map[string]float64{}
	for _, r := range m.Rows {
		got[FormatValue(r.Key["node"])] = r.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string]float64{"laptop": 100, "gw": 4}) {
		t.Fatalf("deduped %v", got)
	}
	// without the laptop's agent the gateway's forwarded report beats the server's inbound one
	m = MergeTop(DedupeTop(results[:2], []string{"node"}), []string{"node"}, "bytes", 0)
	if m.Total.Bytes != 95+4 || len(m.Rows) != 1 {
		t.Fatalf("without the laptop: %+v", m.Rows)
	}

	// time series dedupe, first step: the same rule says which reports each agent leaves out
	conns := func(tops []AgentTop) []AgentTop {
		out := make([]AgentTop, len(tops))
		for i, top := range tops {
			out[i] = AgentTop{Agent: top.Agent, Result: models.TopResult{Kind: "top", GroupBy: models.ConnectionDimensions}}
			for _, r := range top.Result.Rows {
				out[i].Result.Rows = append(out[i].Result.Rows, models.TopRow{Key: project(r.Key, models.ConnectionDimensions), Value: r.Value, Totals: r.Totals})
			}
		}
		return out
	}
	if got := fmt.Sprint(SecondReports(conns(results))); got != fmt.Sprint(map[string][]string{"gw": {"cA"}, "server": {"cB"}}) {
		t.Errorf("second reports %s", got)
	}
	if got := fmt.Sprint(SecondReports(conns(results[:2]))); got != fmt.Sprint(map[string][]string{"server": {"cB"}}) {
		t.Errorf("second reports without the laptop %s", got)
	}
}

func TestDedupeRecordsHidesEgressLegsAndJoinsNATSides(t *testing.T) {
	egress, ingress := models.TransitEgress, models.TransitIngress
	recs := []models.FlowRecord{
		{FlowID: "1", CommunityID: "cB", Direction: "inbound", Node: "server"},
		{FlowID: "2", CommunityID: "cA", LinkID: "cB", Direction: "forwarded", Node: "gw", Transit: &ingress},
		{FlowID: "3", CommunityID: "cB", LinkID: "cA", Direction: "outbound", Node: "gw", Transit: &egress},
		{FlowID: "4", CommunityID: "cD", Direction: "forwarded", Node: "gw", Transit: &egress},
	}
	agents := []string{"server", "gw", "gw", "gw"}
	out := DedupeRecords(recs, func(i int) string { return agents[i] })
	if len(out) != 1 || out[0].FlowID != "2" {
		t.Fatalf("got %+v", out)
	}
}

func TestMergeSummaryAndValues(t *testing.T) {
	first, last := int64(5), int64(50)
	s := MergeSummary([]AgentSummary{
		{Agent: "a", Result: models.SummaryResult{Total: totals(10), Records: 2, FirstUs: &first, LastUs: &first, ByDirection: map[string]models.Totals{"inbound": totals(10)}}},
		{Agent: "b", Result: models.SummaryResult{Total: totals(5), Records: 1, FirstUs: &last, LastUs: &last, ByDirection: map[string]models.Totals{"inbound": totals(5)}}},
	})
	if s.Total.Bytes != 15 || s.Records != 3 || *s.FirstUs != 5 || *s.LastUs != 50 || s.ByDirection["inbound"].Bytes != 15 {
		t.Fatalf("summary %+v", s)
	}
	vals, complete := MergeValues([]AgentValues{
		{Agent: "a", Result: models.ValuesResult{Values: []models.ValueCount{{Value: "x", Count: 2}, {Value: "y", Count: 1}}}},
		{Agent: "b", Result: models.ValuesResult{Values: []models.ValueCount{{Value: "y", Count: 5}}}},
	}, 10, 3)
	if !complete || len(vals) != 2 || vals[0].Value != "y" || vals[0].Count != 6 {
		t.Fatalf("values %+v complete=%v", vals, complete)
	}
}

func TestSecondReportsLeavesOnePreferredReporter(t *testing.T) {
	row := func(cid, dir string) models.TopRow {
		return models.TopRow{Key: models.GroupKey{"community_id": cid, "direction": dir}, Value: 1, Totals: totals(1)}
	}
	mk := func(agent string, rows ...models.TopRow) AgentTop {
		return AgentTop{Agent: agent, Result: models.TopResult{Kind: "top", GroupBy: models.ConnectionDimensions, Rows: rows}}
	}
	got := SecondReports([]AgentTop{
		// c1: outbound on laptop beats inbound on gw; c2: forwarded on gw and relay, gw wins by name;
		// c3: only relay; c4: gw reports it twice (two directions) and is the preferred reporter.
		mk("gw", row("c1", "inbound"), row("c2", "forwarded"), row("c4", "forwarded"), row("c4", "inbound"), row("", "inbound")),
		mk("laptop", row("c1", "outbound"), row("c4", "inbound")),
		mk("relay", row("c2", "forwarded"), row("c3", "inbound")),
	})
	want := map[string][]string{"gw": {"c1"}, "laptop": {"c4"}, "relay": {"c2"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("second reports %v, want %v", got, want)
	}
}

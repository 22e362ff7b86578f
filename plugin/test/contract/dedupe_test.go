package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Two agents imported the same capture as different nodes with opposite perspectives:
// every connection is reported twice. With dedupe 'connection' network-wide totals must
// equal one agent's totals; without, twice that.
func TestDedupeCountsEachConnectionOnce(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Dedupe...)
	one := h.Dedupe[0].Name
	single := (&oracle{all: o.perAgent[one]}).total("bytes")
	c := inProcessClient(t)
	s := settingsFor(h.Dedupe, nil)

	summaryBytes := func(dedupe string) float64 {
		frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "summary", "dedupe": dedupe}))
		return floatAt(field(t, frames[0], "bytes"), 0)
	}
	if got := summaryBytes("none"); got != 2*single {
		t.Errorf("no dedupe: %v bytes, want twice one agent's %v", got, single)
	}
	if got := summaryBytes("connection"); got != single {
		t.Errorf("dedupe connection: %v bytes, want one agent's %v", got, single)
	}

	// top by destination port, deduplicated, equals one agent's own grouping.
	frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"dst_port"}, "limit": 0, "dedupe": "connection"}))
	want := (&oracle{all: o.perAgent[one]}).top("bytes", func(r models.FlowRecord) string { return fmt.Sprint(r.DstPort) })
	ports, values := field(t, frames[0], "dst_port"), field(t, frames[0], "bytes")
	if ports.Len() != len(want) {
		t.Fatalf("%d groups, want %d", ports.Len(), len(want))
	}
	for i, w := range want {
		if ports.At(i).(string) != w.key || floatAt(values, i) != w.value {
			t.Errorf("rank %d: %s=%v, want %s=%v", i, ports.At(i), floatAt(values, i), w.key, w.value)
		}
	}

	// Top by all four endpoint dimensions (what topology by name asks) with dedupe: each
	// agent groups by six dimensions, and the result is still one agent's grouping.
	frames = mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "top", "groupBy": []string{"src_name", "src_ip", "dst_name", "dst_ip"}, "metric": "flows", "limit": 0, "dedupe": "connection"}))
	wantPairs := (&oracle{all: o.perAgent[one]}).top("flows", func(r models.FlowRecord) string { return r.SrcIP + ">" + r.DstIP })
	if got := field(t, frames[0], "src_ip").Len(); got != len(wantPairs) {
		t.Errorf("dedupe top by 4 dimensions: %d groups, want %d", got, len(wantPairs))
	}

	// Time series, deduplicated, equal one agent's, at any bucket width: the plugin first
	// lists each agent's connections, then asks each agent for its series without the
	// connections another agent reported better (no series per connection).
	series := func(interval string, splitBy []string) (map[string]float64, []string) {
		frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "timeseries", "metric": "bytes", "dedupe": "connection", "interval": interval, "splitBy": splitBy, "splitLimit": 0}))
		sums := map[string]float64{}
		var texts []string
		for _, f := range frames {
			if len(f.Fields) < 2 {
				continue
			}
			key := f.Fields[1].Labels.String()
			for i := 0; i < f.Fields[1].Len(); i++ {
				sums[key] += floatAt(f.Fields[1], i)
			}
		}
		for _, n := range notices(frames) {
			texts = append(texts, n.Text)
		}
		return sums, texts
	}
	for _, interval := range []string{"36500d", ""} {
		sums, texts := series(interval, nil)
		if sums[""] != single || len(texts) > 0 {
			t.Errorf("interval %q: deduplicated time series sums to %v (notices %v), want %v", interval, sums[""], texts, single)
		}
	}
	byPort, texts := series("", []string{"dst_port"})
	wantPorts := (&oracle{all: o.perAgent[one]}).top("bytes", func(r models.FlowRecord) string { return fmt.Sprint(r.DstPort) })
	if len(byPort) != len(wantPorts) || len(texts) > 0 {
		t.Errorf("split by dst_port: %d series (notices %v), want %d", len(byPort), texts, len(wantPorts))
	}
	for _, w := range wantPorts {
		if got := byPort["dst_port="+w.key]; got != w.value {
			t.Errorf("dst_port %s: %v, want %v", w.key, got, w.value)
		}
	}
}

// Past the row budget dedupe cannot list every connection: the connections it could not list
// count without dedupe (never fewer than once, never more than every report), and a warning
// says so and what to change.
func TestDedupeTimeSeriesPastTheRowBudgetSaysSo(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Dedupe...)
	single := (&oracle{all: o.perAgent[h.Dedupe[0].Name]}).total("bytes")
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Dedupe, map[string]any{"rowBudget": 5}), o.tr,
		map[string]any{"queryType": "timeseries", "metric": "bytes", "dedupe": "connection", "interval": "36500d"}))
	sum := 0.0
	for _, f := range frames {
		for i := 0; len(f.Fields) > 1 && i < f.Fields[1].Len(); i++ {
			sum += floatAt(f.Fields[1], i)
		}
	}
	if sum <= single || sum > 2*single {
		t.Errorf("past the budget: %v bytes, want more than once (%v) and at most every report (%v)", sum, single, 2*single)
	}
	var texts []string
	for _, n := range notices(frames) {
		texts = append(texts, n.Text)
	}
	if !strings.Contains(strings.Join(texts, " "), "could not list them all; the rest count without dedupe (narrow the time range or filters, or raise rowBudget)") {
		t.Errorf("no row budget warning: %v", texts)
	}
}

// The flows table with dedupe shows one row per connection per page, from the preferred
// reporter (outbound > forwarded > inbound, ties by agent name).
func TestDedupeFlowsKeepPreferredReporter(t *testing.T) {
	h := need(t)
	o := newOracle(t, h.Dedupe...)
	best := map[string][2]any{} // community_id -> (rank, agent)
	for agent, recs := range o.perAgent {
		for _, r := range recs {
			rank := federation.DirectionRank(r.Direction)
			b, ok := best[r.CommunityID]
			if !ok || rank < b[0].(int) || (rank == b[0].(int) && agent < b[1].(string)) {
				best[r.CommunityID] = [2]any{rank, agent}
			}
		}
	}
	frames := mustOK(t, run(t, inProcessClient(t), settingsFor(h.Dedupe, nil), o.tr, map[string]any{"queryType": "flows", "limit": 10000, "dedupe": "connection"}))
	f := frames[0]
	cids, nodes, dirs := field(t, f, "community_id"), field(t, f, "node"), field(t, f, "direction")
	seen := map[string]bool{}
	for i := 0; i < cids.Len(); i++ {
		cid := cids.At(i).(string)
		if seen[cid] {
			t.Errorf("community_id %s shown twice", cid)
		}
		seen[cid] = true
		b := best[cid]
		if nodes.At(i).(string) != b[1].(string) || federation.DirectionRank(dirs.At(i).(string)) != b[0].(int) {
			t.Errorf("connection %s shown from %s/%s, preferred %v", cid, nodes.At(i), dirs.At(i), b)
		}
	}
	if len(seen) != len(best) {
		t.Errorf("%d connections shown, agents know %d", len(seen), len(best))
	}
}

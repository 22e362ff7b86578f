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

	// timeseries total, deduplicated, equals one agent's. Each agent sends one series per
	// connection, bounded by rowBudget / buckets: wide buckets keep every series.
	seriesSum := func(interval string) (float64, []string) {
		frames := mustOK(t, run(t, c, s, o.tr, map[string]any{"queryType": "timeseries", "metric": "bytes", "dedupe": "connection", "interval": interval}))
		sum := 0.0
		var texts []string
		for _, f := range frames {
			for i := 0; f.Fields != nil && i < f.Fields[1].Len(); i++ {
				sum += floatAt(f.Fields[1], i)
			}
		}
		for _, n := range notices(frames) {
			texts = append(texts, n.Text)
		}
		return sum, texts
	}
	if sum, _ := seriesSum("36500d"); sum != single {
		t.Errorf("deduplicated time series sums to %v, want %v", sum, single)
	}
	// The corpus spans decades: at 2000 buckets the budget allows 25 series per agent, so
	// the excess is summed without dedupe and a notice says so.
	if sum, texts := seriesSum(""); sum != single && !strings.Contains(strings.Join(texts, " "), "Row budget reached") {
		t.Errorf("inexact dedupe (%v vs %v) without a row budget notice: %v", sum, single, texts)
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

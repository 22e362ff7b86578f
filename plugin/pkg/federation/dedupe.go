package federation

import (
	"slices"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Connection dedupe: a connection (community_id) reported by several agents counts once.
// The kept reporter is the initiator's node (direction outbound), else a forwarding node,
// else the receiver (inbound); ties by agent name. Top queries ask each agent to group by
// [community_id, direction, ...user dims] and the plugin picks reporters here (DedupeTop).
// Time series would need one series per connection that way (series x buckets), so they
// go in two steps: a top by [community_id, direction] finds every agent's second reports
// (SecondReports), then each agent is asked for its series without them. Either way about
// one row per connection and reporter travels over the network, which is why dedupe is
// bounded by the row budget (see TruncationNotice).

// WithDedupeDims returns [community_id, direction, ...dims] without duplicates.
func WithDedupeDims(dims []string) []string {
	out := slices.Clone(models.ConnectionDimensions)
	for _, d := range dims {
		if !models.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

type reporter struct {
	rank  int
	agent string
}

func (r reporter) better(o reporter) bool {
	if r.rank != o.rank {
		return r.rank < o.rank
	}
	return r.agent < o.agent
}

// DirectionRank is the dedupe preference of a direction (lower wins).
func DirectionRank(direction string) int {
	if i := slices.Index(models.Directions, direction); i >= 0 {
		return i
	}
	return len(models.Directions)
}

// preferredReporters picks, per community_id, the best (direction, agent) seen.
func preferredReporters(visit func(yield func(cid, direction, agent string))) map[string]reporter {
	best := map[string]reporter{}
	visit(func(cid, direction, agent string) {
		r := reporter{rank: DirectionRank(direction), agent: agent}
		if cur, ok := best[cid]; !ok || r.better(cur) {
			best[cid] = r
		}
	})
	return best
}

// DedupeTop keeps, per community_id, only the preferred reporter's rows and re-keys them
// by userDims, returning per-agent results ready for MergeTop. Rows without a community_id
// are kept as they are. Each agent's truncated remainder ("other") is passed through
// un-deduplicated.
func DedupeTop(results []AgentTop, userDims []string) []AgentTop {
	best := preferredReporters(func(yield func(cid, direction, agent string)) {
		for _, r := range results {
			for _, row := range r.Result.Rows {
				yield(FormatValue(row.Key["community_id"]), FormatValue(row.Key["direction"]), r.Agent)
			}
		}
	})
	out := make([]AgentTop, len(results))
	for i, r := range results {
		kept := models.TopResult{Kind: models.KindTop, GroupBy: userDims, Metric: r.Result.Metric, Other: r.Result.Other}
		kept.Total.Add(r.Result.Other.Totals)
		for _, row := range r.Result.Rows {
			cid := FormatValue(row.Key["community_id"])
			b := best[cid]
			if cid != "" && (b.agent != r.Agent || b.rank != DirectionRank(FormatValue(row.Key["direction"]))) {
				continue
			}
			kept.Rows = append(kept.Rows, models.TopRow{Key: project(row.Key, userDims), Value: row.Value, Totals: row.Totals})
			kept.Total.Add(row.Totals)
		}
		out[i] = AgentTop{Agent: r.Agent, Result: kept}
	}
	return out
}

// SecondReports lists, per agent, the connections (community_id) that another agent
// reported with a better preference: leaving them out of that agent's aggregates counts
// every connection once. results answer a top grouped by ConnectionDimensions. An agent
// that is the preferred reporter of a connection keeps all of its reports of it (one agent
// reporting one connection in two directions is not deduplicated against itself).
func SecondReports(results []AgentTop) map[string][]string {
	best := preferredReporters(func(yield func(cid, direction, agent string)) {
		for _, r := range results {
			for _, row := range r.Result.Rows {
				yield(FormatValue(row.Key["community_id"]), FormatValue(row.Key["direction"]), r.Agent)
			}
		}
	})
	out := map[string][]string{}
	for _, r := range results {
		seen := map[string]bool{}
		for _, row := range r.Result.Rows {
			cid := FormatValue(row.Key["community_id"])
			if cid == "" || seen[cid] || best[cid].agent == r.Agent {
				continue
			}
			seen[cid] = true
			out[r.Agent] = append(out[r.Agent], cid)
		}
		slices.Sort(out[r.Agent])
	}
	return out
}

// DedupeRecords keeps one record per community_id on a page: the preferred reporter's
// first record in page order. Records without a community_id are all kept.
func DedupeRecords(records []models.FlowRecord, agentOf func(i int) string) []models.FlowRecord {
	best := preferredReporters(func(yield func(cid, direction, agent string)) {
		for i, r := range records {
			yield(r.CommunityID, r.Direction, agentOf(i))
		}
	})
	seen := map[string]bool{}
	out := make([]models.FlowRecord, 0, len(records))
	for i, r := range records {
		if r.CommunityID == "" {
			out = append(out, r)
			continue
		}
		b := best[r.CommunityID]
		if seen[r.CommunityID] || b.agent != agentOf(i) || b.rank != DirectionRank(r.Direction) {
			continue
		}
		seen[r.CommunityID] = true
		out = append(out, r)
	}
	return out
}

package federation

import (
	"slices"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Connection dedupe: a connection reported by several agents counts once.
// The kept reporter is the initiator's node (direction outbound), else a forwarding node,
// else the receiver (inbound); ties by agent name. Aggregates therefore ask each agent to
// group by [community_id, link_id, direction, ...user dims] and the plugin picks reporters
// here: one row per connection and reporter travels over the network, which is why dedupe
// is bounded by the row budget (see TruncationNotice).
//
// A connection is its community_id, joined across NAT gateways: a record translated by a
// gateway carries the Community ID of the other side in link_id, so the two IDs name one
// connection (an agent behind the NAT reports the translated tuple's ID). A gateway that
// captures both of its interfaces reports a forwarded connection twice, as its ingress and
// egress legs; with dedupe the agents leave egress legs out (EgressFilter).

// DedupeDims are the dimensions prepended to the user's when dedupe is on.
var DedupeDims = []string{"community_id", "link_id", "direction"}

// EgressFilter leaves out the egress leg of connections an agent saw on two of its
// interfaces (the ingress leg counts them). neq also keeps records without a transit leg.
var EgressFilter = models.Filter{Field: "transit", Op: "neq", Value: models.TransitEgress}

// WithDedupeDims returns [community_id, link_id, direction, ...dims] without duplicates.
func WithDedupeDims(dims []string) []string {
	out := slices.Clone(DedupeDims)
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

// connections joins Community IDs that name one connection (union-find over the
// community_id / link_id pairs seen); the smallest ID names the group.
type connections map[string]string

func (c connections) of(id string) string {
	root := id
	for {
		parent, ok := c[root]
		if !ok || parent == root {
			break
		}
		root = parent
	}
	for id != root {
		next := c[id]
		c[id] = root
		id = next
	}
	return root
}

func (c connections) join(a, b string) {
	if a == "" || b == "" {
		return
	}
	ra, rb := c.of(a), c.of(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	c[rb] = ra
}

// sighting is one report of a connection: its IDs, the reporter's direction and agent.
type sighting struct{ cid, link, direction, agent string }

// preferredReporters picks, per connection, the best (direction, agent) seen, and returns
// the connection of each Community ID.
func preferredReporters(visit func(yield func(s sighting))) (map[string]reporter, connections) {
	conns := connections{}
	visit(func(s sighting) { conns.join(s.cid, s.link) })
	best := map[string]reporter{}
	visit(func(s sighting) {
		conn := conns.of(s.cid)
		r := reporter{rank: DirectionRank(s.direction), agent: s.agent}
		if cur, ok := best[conn]; !ok || r.better(cur) {
			best[conn] = r
		}
	})
	return best, conns
}

// keep says whether a report by agent is the kept one of its connection.
func keep(best map[string]reporter, conns connections, cid, direction, agent string) bool {
	if cid == "" {
		return true
	}
	b := best[conns.of(cid)]
	return b.agent == agent && b.rank == DirectionRank(direction)
}

// DedupeTop keeps, per community_id, only the preferred reporter's rows and re-keys them
// by userDims, returning per-agent results ready for MergeTop. Rows without a community_id
// are kept as they are. Each agent's truncated remainder ("other") is passed through
// un-deduplicated.
func DedupeTop(results []AgentTop, userDims []string) []AgentTop {
	best, conns := preferredReporters(func(yield func(s sighting)) {
		for _, r := range results {
			for _, row := range r.Result.Rows {
				yield(sighting{FormatValue(row.Key["community_id"]), FormatValue(row.Key["link_id"]), FormatValue(row.Key["direction"]), r.Agent})
			}
		}
	})
	out := make([]AgentTop, len(results))
	for i, r := range results {
		kept := models.TopResult{Kind: models.KindTop, GroupBy: userDims, Metric: r.Result.Metric, Other: r.Result.Other}
		kept.Total.Add(r.Result.Other.Totals)
		for _, row := range r.Result.Rows {
			if !keep(best, conns, FormatValue(row.Key["community_id"]), FormatValue(row.Key["direction"]), r.Agent) {
				continue
			}
			kept.Rows = append(kept.Rows, models.TopRow{Key: project(row.Key, userDims), Value: row.Value, Totals: row.Totals})
			kept.Total.Add(row.Totals)
		}
		out[i] = AgentTop{Agent: r.Agent, Result: kept}
	}
	return out
}

// DedupeSeries does for time series what DedupeTop does for top: per community_id only
// the preferred reporter's series survive, re-keyed by userDims.
func DedupeSeries(results []AgentSeries, userDims []string) []AgentSeries {
	best, conns := preferredReporters(func(yield func(s sighting)) {
		for _, r := range results {
			for _, s := range r.Result.Series {
				if !s.Other {
					yield(sighting{FormatValue(s.Key["community_id"]), FormatValue(s.Key["link_id"]), FormatValue(s.Key["direction"]), r.Agent})
				}
			}
		}
	})
	out := make([]AgentSeries, len(results))
	for i, r := range results {
		kept := r.Result
		kept.SplitBy = userDims
		kept.Series = nil
		for _, s := range r.Result.Series {
			if !s.Other {
				if !keep(best, conns, FormatValue(s.Key["community_id"]), FormatValue(s.Key["direction"]), r.Agent) {
					continue
				}
				s.Key = project(s.Key, userDims)
			}
			kept.Series = append(kept.Series, s)
		}
		out[i] = AgentSeries{Agent: r.Agent, Result: kept}
	}
	return out
}

// DedupeRecords keeps one record per connection on a page: the preferred reporter's
// first record in page order. Records without a community_id are all kept; egress legs
// never are (the agents were asked without them; this holds for any page).
func DedupeRecords(records []models.FlowRecord, agentOf func(i int) string) []models.FlowRecord {
	egress := func(r models.FlowRecord) bool { return r.Transit != nil && *r.Transit == models.TransitEgress }
	best, conns := preferredReporters(func(yield func(s sighting)) {
		for i, r := range records {
			if !egress(r) {
				yield(sighting{r.CommunityID, r.LinkID, r.Direction, agentOf(i)})
			}
		}
	})
	seen := map[string]bool{}
	out := make([]models.FlowRecord, 0, len(records))
	for i, r := range records {
		if egress(r) {
			continue
		}
		if r.CommunityID == "" {
			out = append(out, r)
			continue
		}
		conn := conns.of(r.CommunityID)
		if seen[conn] || !keep(best, conns, r.CommunityID, r.Direction, agentOf(i)) {
			continue
		}
		seen[conn] = true
		out = append(out, r)
	}
	return out
}

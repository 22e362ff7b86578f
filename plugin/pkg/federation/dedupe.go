package federation

import (
	"slices"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Connection dedupe: a connection reported by several agents counts once.
// The kept reporter is the initiator's node (direction outbound), else a forwarding node,
// else the receiver (inbound); ties by agent name. Top queries ask each agent to group by
// [community_id, link_id, direction, ...user dims] and the plugin picks reporters here
// (DedupeTop). Time series would need one series per connection that way (series x
// buckets), so they go in two steps: a top by those three finds every agent's second
// reports (SecondReports), then each agent is asked for its series without them. Either way
// about one row per connection and reporter travels over the network, which is why dedupe
// is bounded by the row budget (see TruncationNotice).
//
// A connection is its community_id, joined across NAT gateways: a record translated by a
// gateway carries the Community ID of the other side in link_id, so the two IDs name one
// connection (an agent behind the NAT reports the translated tuple's ID). A gateway that
// captures both of its interfaces reports a forwarded connection twice, as its ingress and
// egress legs; with dedupe the agents leave egress legs out (EgressFilter), in every query.

// EgressFilter leaves out the egress leg of connections an agent saw on two of its
// interfaces (the ingress leg counts them). neq also keeps records without a transit leg.
var EgressFilter = models.Filter{Field: "transit", Op: "neq", Value: models.TransitEgress}

// WithDedupeDims returns [community_id, link_id, direction, ...dims] without duplicates.
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

// DedupeTop keeps, per connection, only the preferred reporter's rows and re-keys them
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

// SecondReports lists, per agent, the connections (community_id) that another agent
// reported with a better preference: leaving them out of that agent's aggregates counts
// every connection once. results answer a top grouped by ConnectionDimensions, so
// connections are joined across NAT gateways (link_id) as in DedupeTop. An agent that is the
// preferred reporter of a connection keeps all of its reports of it (one agent reporting one
// connection in two directions is not deduplicated against itself).
func SecondReports(results []AgentTop) map[string][]string {
	best, conns := preferredReporters(func(yield func(s sighting)) {
		for _, r := range results {
			for _, row := range r.Result.Rows {
				yield(sighting{FormatValue(row.Key["community_id"]), FormatValue(row.Key["link_id"]), FormatValue(row.Key["direction"]), r.Agent})
			}
		}
	})
	out := map[string][]string{}
	for _, r := range results {
		seen := map[string]bool{}
		for _, row := range r.Result.Rows {
			cid := FormatValue(row.Key["community_id"])
			if cid == "" || seen[cid] || best[conns.of(cid)].agent == r.Agent {
				continue
			}
			seen[cid] = true
			out[r.Agent] = append(out[r.Agent], cid)
		}
		slices.Sort(out[r.Agent])
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

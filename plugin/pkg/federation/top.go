package federation

import (
	"fmt"
	"sort"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// AgentTop is one agent's answer to a top query that asked for every group.
type AgentTop = AgentResult[models.TopResult]

// TopMerged is the union top: exact whenever no agent truncated (Truncated empty).
type TopMerged struct {
	GroupBy []string
	Metric  string
	Rows    []models.TopRow
	Other   models.TopOther
	Total   models.Totals
	// Truncated names agents whose groups exceeded the row budget (their excess arrived
	// pre-summed as "other", so ranks near the cut may be inexact).
	Truncated []string
}

type groupAcc struct {
	key    models.GroupKey
	id     string
	totals models.Totals
}

// MergeTop sums every agent's groups by key, ranks the union by metric and keeps limit
// rows (0 = all) plus an other row. Because each agent sent all of its groups, the result
// equals a top computed over the union of all records.
func MergeTop(results []AgentTop, groupBy []string, metric string, limit int) TopMerged {
	m := TopMerged{GroupBy: groupBy, Metric: metric}
	groups := map[string]*groupAcc{}
	for _, r := range results {
		m.Total.Add(r.Result.Total)
		for _, row := range r.Result.Rows {
			id := keyOf(row.Key, groupBy)
			g, ok := groups[id]
			if !ok {
				g = &groupAcc{key: project(row.Key, groupBy), id: id}
				groups[id] = g
			}
			g.totals.Add(row.Totals)
		}
		if r.Result.Other.Groups > 0 || r.Result.Other.Totals.Flows > 0 || r.Result.Other.Totals.Bytes > 0 || r.Result.Other.Totals.Packets > 0 {
			m.Truncated = append(m.Truncated, r.Agent)
			m.Other.Groups += r.Result.Other.Groups
			m.Other.Totals.Add(r.Result.Other.Totals)
		}
	}
	ranked := rankGroups(groups, metric)
	if limit <= 0 || limit > len(ranked) {
		limit = len(ranked)
	}
	for _, g := range ranked[:limit] {
		m.Rows = append(m.Rows, models.TopRow{Key: g.key, Value: g.totals.Metric(metric), Totals: g.totals})
	}
	for _, g := range ranked[limit:] {
		m.Other.Groups++
		m.Other.Totals.Add(g.totals)
	}
	m.Other.Value = m.Other.Totals.Metric(metric)
	return m
}

// rankGroups orders groups by metric descending, ties by key so output is deterministic.
func rankGroups(groups map[string]*groupAcc, metric string) []*groupAcc {
	ranked := make([]*groupAcc, 0, len(groups))
	for _, g := range groups {
		ranked = append(ranked, g)
	}
	sort.Slice(ranked, func(i, j int) bool {
		a, b := ranked[i].totals.Metric(metric), ranked[j].totals.Metric(metric)
		if a != b {
			return a > b
		}
		return ranked[i].id < ranked[j].id
	})
	return ranked
}

// TruncationNotice explains an inexact merge caused by the row budget, or "" when exact.
func TruncationNotice(truncated []string, budget int64, what string) string {
	if len(truncated) == 0 {
		return ""
	}
	sort.Strings(truncated)
	return fmt.Sprintf("Row budget reached: agents %v had more than %d %s; the excess is summed into \"other\" and ranks near the cut may be inexact (narrow the time range or filters, or raise rowBudget)", truncated, budget, what)
}

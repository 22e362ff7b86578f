package federation

import (
	"slices"
	"sort"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// AgentSeries is one agent's answer to a timeseries query.
type AgentSeries = AgentResult[models.TimeseriesResult]

// SeriesMerged is the union of all agents' series, summed per bucket and series key.
type SeriesMerged struct {
	IntervalMs int64
	Metric     string
	SplitBy    []string
	Times      []int64
	Series     []models.Series
	// Truncated names agents that summed some series into "other" (row budget).
	Truncated []string
}

// OtherValue labels the series (and top row) that sums everything beyond the limit.
const OtherValue = "other"

type seriesAcc struct {
	key    models.GroupKey
	id     string
	other  bool
	values map[int64]float64
	total  float64
}

// MergeTimeseries sums series with equal keys bucket by bucket over the union of the
// agents' bucket times, then keeps the splitLimit largest series by total (0 = all) and
// sums the rest, plus any agent's own "other", into one series marked Other.
func MergeTimeseries(results []AgentSeries, splitBy []string, metric string, splitLimit int) SeriesMerged {
	m := SeriesMerged{Metric: metric, SplitBy: splitBy}
	timeSet := map[int64]bool{}
	accs := map[string]*seriesAcc{}
	other := &seriesAcc{other: true, values: map[int64]float64{}}
	for _, r := range results {
		if m.IntervalMs == 0 {
			m.IntervalMs = r.Result.IntervalMs
		}
		for _, t := range r.Result.Times {
			timeSet[t] = true
		}
		for _, s := range r.Result.Series {
			var acc *seriesAcc
			if s.Other {
				if sum(s.Values) == 0 {
					continue
				}
				acc = other
				if !slices.Contains(m.Truncated, r.Agent) {
					m.Truncated = append(m.Truncated, r.Agent)
				}
			} else {
				id := keyOf(s.Key, splitBy)
				acc = accs[id]
				if acc == nil {
					acc = &seriesAcc{key: project(s.Key, splitBy), id: id, values: map[int64]float64{}}
					accs[id] = acc
				}
			}
			for i, t := range r.Result.Times {
				acc.values[t] += s.Values[i]
				acc.total += s.Values[i]
			}
		}
	}
	for t := range timeSet {
		m.Times = append(m.Times, t)
	}
	slices.Sort(m.Times)
	ranked := make([]*seriesAcc, 0, len(accs))
	for _, a := range accs {
		ranked = append(ranked, a)
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].total != ranked[j].total {
			return ranked[i].total > ranked[j].total
		}
		return ranked[i].id < ranked[j].id
	})
	if splitLimit <= 0 || splitLimit > len(ranked) {
		splitLimit = len(ranked)
	}
	for _, a := range ranked[:splitLimit] {
		m.Series = append(m.Series, models.Series{Key: a.key, Values: m.valuesOf(a)})
	}
	for _, a := range ranked[splitLimit:] {
		for t, v := range a.values {
			other.values[t] += v
		}
		other.total += a.total
	}
	if len(other.values) > 0 {
		key := models.GroupKey{}
		for _, d := range splitBy {
			key[d] = OtherValue
		}
		m.Series = append(m.Series, models.Series{Key: key, Other: true, Values: m.valuesOf(other)})
	}
	return m
}

func (m *SeriesMerged) valuesOf(a *seriesAcc) []float64 {
	out := make([]float64, len(m.Times))
	for i, t := range m.Times {
		out[i] = a.values[t]
	}
	return out
}

func sum(values []float64) float64 {
	total := 0.0
	for _, v := range values {
		total += v
	}
	return total
}

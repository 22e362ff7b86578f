package federation

import (
	"math"
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

// seriesAcc accumulates one merged series. Per bucket: a sum, a maximum, or (averages) the
// sum of the measurements, recovered exactly from each agent's average and count; counts
// are the measurements (averages only).
type seriesAcc struct {
	key    models.GroupKey
	id     string
	other  bool
	values map[int64]float64
	counts map[int64]float64
}

func newSeriesAcc(key models.GroupKey, id string, other bool) *seriesAcc {
	return &seriesAcc{key: key, id: id, other: other, values: map[int64]float64{}, counts: map[int64]float64{}}
}

// add merges one bucket of an agent's series (or of another accumulator) by the metric's rule.
func (a *seriesAcc) add(aggregation string, t int64, value, count float64) {
	switch aggregation {
	case models.AggregateMax:
		if cur, ok := a.values[t]; !ok || value > cur {
			a.values[t] = value
		}
	case models.AggregateAvg:
		// the agent's average times its count is the sum of integer microseconds: round off
		// the division's last bit so sums merge exactly
		a.values[t] += math.Round(value * count)
		a.counts[t] += count
	default:
		a.values[t] += value
	}
}

func (a *seriesAcc) merge(aggregation string, o *seriesAcc) {
	for t, v := range o.values {
		if aggregation == models.AggregateAvg {
			a.values[t] += v
			a.counts[t] += o.counts[t]
		} else {
			a.add(aggregation, t, v, 0)
		}
	}
}

// total ranks series: the sum, the largest bucket, or the average over the whole range.
func (a *seriesAcc) total(aggregation string) float64 {
	total, count := 0.0, 0.0
	for t, v := range a.values {
		switch aggregation {
		case models.AggregateMax:
			total = max(total, v)
		default:
			total += v
			count += a.counts[t]
		}
	}
	if aggregation == models.AggregateAvg {
		return models.Mean(total, count)
	}
	return total
}

// MergeTimeseries merges series with equal keys bucket by bucket over the union of the
// agents' bucket times (sums add, maxima take the larger, averages are weighted by their
// counts), then keeps the splitLimit largest series by their metric over the whole range
// (0 = all) and merges the rest, plus any agent's own "other", into one series marked Other.
func MergeTimeseries(results []AgentSeries, splitBy []string, metric string, splitLimit int) SeriesMerged {
	m := SeriesMerged{Metric: metric, SplitBy: splitBy}
	aggregation := models.MetricAggregation(metric)
	timeSet := map[int64]bool{}
	accs := map[string]*seriesAcc{}
	other := newSeriesAcc(nil, "", true)
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
					acc = newSeriesAcc(project(s.Key, splitBy), id, false)
					accs[id] = acc
				}
			}
			for i, t := range r.Result.Times {
				count := 0.0
				if i < len(s.Counts) {
					count = s.Counts[i]
				}
				acc.add(aggregation, t, s.Values[i], count)
			}
		}
	}
	for t := range timeSet {
		m.Times = append(m.Times, t)
	}
	slices.Sort(m.Times)
	ranked := make([]*seriesAcc, 0, len(accs))
	totals := map[*seriesAcc]float64{}
	for _, a := range accs {
		ranked = append(ranked, a)
		totals[a] = a.total(aggregation)
	}
	sort.Slice(ranked, func(i, j int) bool {
		if totals[ranked[i]] != totals[ranked[j]] {
			return totals[ranked[i]] > totals[ranked[j]]
		}
		return ranked[i].id < ranked[j].id
	})
	if splitLimit <= 0 || splitLimit > len(ranked) {
		splitLimit = len(ranked)
	}
	for _, a := range ranked[:splitLimit] {
		m.Series = append(m.Series, m.seriesOf(a, aggregation))
	}
	for _, a := range ranked[splitLimit:] {
		other.merge(aggregation, a)
	}
	if len(other.values) > 0 {
		other.key = models.GroupKey{}
		for _, d := range splitBy {
			other.key[d] = OtherValue
		}
		m.Series = append(m.Series, m.seriesOf(other, aggregation))
	}
	return m
}

// seriesOf is an accumulator as a series over every bucket; averages carry their counts.
func (m *SeriesMerged) seriesOf(a *seriesAcc, aggregation string) models.Series {
	s := models.Series{Key: a.key, Other: a.other, Values: make([]float64, len(m.Times))}
	if aggregation == models.AggregateAvg {
		s.Counts = make([]float64, len(m.Times))
	}
	for i, t := range m.Times {
		if aggregation == models.AggregateAvg {
			s.Counts[i] = a.counts[t]
			s.Values[i] = models.Mean(a.values[t], a.counts[t])
		} else {
			s.Values[i] = a.values[t]
		}
	}
	return s
}

func sum(values []float64) float64 {
	total := 0.0
	for _, v := range values {
		total += v
	}
	return total
}

package federation

import (
	"sort"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// AgentSummary is one agent's summary.
type AgentSummary = AgentResult[models.SummaryResult]

// MergeSummary sums totals, record counts and the per-direction and per-protocol totals,
// and spans first/last. Distinct address counts are summed here (an upper bound); the
// caller replaces them with exact union counts when it can (see MergeDistinct).
func MergeSummary(results []AgentSummary) models.SummaryResult {
	out := models.SummaryResult{Kind: models.KindSummary, ByDirection: map[string]models.Totals{}, ByProtocol: map[string]models.Totals{}}
	for _, r := range results {
		s := r.Result
		out.Total.Add(s.Total)
		out.Records += s.Records
		out.DistinctSrcIPs += s.DistinctSrcIPs
		out.DistinctDstIPs += s.DistinctDstIPs
		if s.FirstUs != nil && (out.FirstUs == nil || *s.FirstUs < *out.FirstUs) {
			out.FirstUs = models.Int64(*s.FirstUs)
		}
		if s.LastUs != nil && (out.LastUs == nil || *s.LastUs > *out.LastUs) {
			out.LastUs = models.Int64(*s.LastUs)
		}
		addTotalsMap(out.ByDirection, s.ByDirection)
		addTotalsMap(out.ByProtocol, s.ByProtocol)
	}
	return out
}

func addTotalsMap(dst, src map[string]models.Totals) {
	for k, t := range src {
		acc := dst[k]
		acc.Add(t)
		dst[k] = acc
	}
}

// AgentValues is one agent's answer to a values query.
type AgentValues = AgentResult[models.ValuesResult]

// MergeValues unions distinct values, summing their counts, most frequent first (ties by
// value), at most limit (0 = all). Complete reports whether no agent hit agentLimit.
func MergeValues(results []AgentValues, limit int, agentLimit int) (values []models.ValueCount, complete bool) {
	type acc struct {
		value any
		text  string
		count int64
	}
	byText := map[string]*acc{}
	complete = true
	for _, r := range results {
		if agentLimit > 0 && len(r.Result.Values) >= agentLimit {
			complete = false
		}
		for _, v := range r.Result.Values {
			text := FormatValue(v.Value)
			a := byText[text]
			if a == nil {
				a = &acc{value: v.Value, text: text}
				byText[text] = a
			}
			a.count += v.Count
		}
	}
	all := make([]*acc, 0, len(byText))
	for _, a := range byText {
		all = append(all, a)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].count != all[j].count {
			return all[i].count > all[j].count
		}
		return all[i].text < all[j].text
	})
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	values = make([]models.ValueCount, len(all))
	for i, a := range all {
		values[i] = models.ValueCount{Value: a.value, Count: a.count}
	}
	return values, complete
}

// MergeDistinct counts the distinct values over all agents' answers.
func MergeDistinct(results []AgentValues) int64 {
	seen := map[string]bool{}
	for _, r := range results {
		for _, v := range r.Result.Values {
			seen[FormatValue(v.Value)] = true
		}
	}
	return int64(len(seen))
}

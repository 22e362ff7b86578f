// Package query turns one plugin query (Grafana DataQuery JSON, docs/CONTRACTS.md
// "Plugin query") into a validated Plan: defaults applied, template variables and macros
// the frontend could not resolve handled server-side (alert rules never run the frontend),
// agents selected, limits clamped, and the agent query fields computed. No I/O.
package query

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Plan is a validated plugin query ready to run against agents.
type Plan struct {
	RefID     string
	QueryType string
	Agents    []string // selected agent names (never empty)
	From, To  int64    // epoch ms, [from, to)
	Filters   []models.Filter
	Dedupe    bool
	// IncludeOpen: agents also answer with flows still open in their flow tables.
	IncludeOpen bool

	GroupBy    []string // top; topology (derived)
	Metric     string
	Limit      int // top N, flows page size, topology edges
	SplitBy    []string
	SplitLimit int
	IntervalMs int64
	Order      string
	TopologyBy string
	Cursor     string
}

// Context is what Grafana tells about the query besides its JSON.
type Context struct {
	From, To      time.Time
	Interval      time.Duration // Grafana's suggested interval ($__interval)
	MaxDataPoints int64
}

// maxBuckets bounds a time series when Grafana gives no MaxDataPoints.
const maxBuckets = 2000

// Parse validates raw against the settings and returns the plan.
func Parse(raw json.RawMessage, qc Context, s *models.Settings) (Plan, error) {
	var q models.PluginQuery
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&q); err != nil {
			return Plan{}, fmt.Errorf("invalid query JSON: %v", err)
		}
	}
	p := Plan{RefID: q.RefID, QueryType: q.QueryType, From: qc.From.UnixMilli(), To: qc.To.UnixMilli(), IncludeOpen: q.IncludeOpen}
	if p.To <= p.From {
		return p, fmt.Errorf("time range: 'to' (%d) must be after 'from' (%d)", p.To, p.From)
	}
	vars := newMacros(qc, p)
	var err error
	if p.Agents, err = selectAgents(q.Agents, s); err != nil {
		return p, err
	}
	if p.Filters, err = normalizeFilters(q.Filters, vars); err != nil {
		return p, err
	}
	if text := strings.TrimSpace(q.Text); text != "" {
		if text, err = vars.expandString(text, "text"); err != nil {
			return p, err
		}
		p.Filters = append(p.Filters, models.Filter{Field: "text", Op: "contains", Value: text})
	}
	if len(p.Filters) > models.MaxFilters {
		return p, fmt.Errorf("filters: %d given, at most %d", len(p.Filters), models.MaxFilters)
	}
	if p.Dedupe, err = dedupe(q.Dedupe, s); err != nil {
		return p, err
	}
	if p.Metric, err = metric(q.Metric); err != nil {
		return p, err
	}
	switch q.QueryType {
	case models.QueryTypeFlows:
		err = p.planFlows(q)
	case models.QueryTypeTop:
		err = p.planTop(q, s)
	case models.QueryTypeTimeseries:
		err = p.planTimeseries(q, qc, vars)
	case models.QueryTypeSummary:
	case models.QueryTypeTopology:
		err = p.planTopology(q, s)
	case "":
		err = fmt.Errorf("queryType: missing; use one of %v", models.QueryTypes)
	default:
		err = fmt.Errorf("queryType %q: unknown; use one of %v", q.QueryType, models.QueryTypes)
	}
	return p, err
}

func (p *Plan) planFlows(q models.PluginQuery) error {
	p.Order = q.Order
	if p.Order == "" {
		p.Order = "newest"
	}
	if p.Order != "newest" && p.Order != "oldest" {
		return fmt.Errorf("order %q: use newest or oldest", q.Order)
	}
	limit, err := intIn(q.Limit, models.DefaultFlowsPageSize, 1, models.MaxFlowsPageSize, "limit (rows per page)")
	p.Limit = limit
	p.Cursor = q.Cursor
	return err
}

func (p *Plan) planTop(q models.PluginQuery, s *models.Settings) error {
	var err error
	if p.GroupBy, err = dimensions(q.GroupBy, "groupBy", 1, models.MaxGroupBy); err != nil {
		return err
	}
	p.Limit, err = intIn(q.Limit, models.DefaultTopLimit, 0, int(s.RowBudget), "limit")
	return err
}

func (p *Plan) planTimeseries(q models.PluginQuery, qc Context, vars macros) error {
	var err error
	if p.SplitBy, err = dimensions(q.SplitBy, "splitBy", 0, models.MaxSplitBy); err != nil {
		return err
	}
	if p.SplitLimit, err = intIn(q.SplitLimit, models.DefaultSplitLimit, 0, 1000, "splitLimit"); err != nil {
		return err
	}
	p.IntervalMs, err = bucketWidth(q.Interval, qc, p.To-p.From, vars)
	return err
}

func (p *Plan) planTopology(q models.PluginQuery, s *models.Settings) error {
	p.TopologyBy = q.TopologyBy
	if p.TopologyBy == "" {
		p.TopologyBy = models.TopologyByIP
	}
	switch p.TopologyBy {
	case models.TopologyByIP:
		p.GroupBy = []string{"src_ip", "dst_ip"}
	case models.TopologyByName:
		// Names may be empty (no inventory entry): keep the address to fall back on.
		p.GroupBy = []string{"src_name", "src_ip", "dst_name", "dst_ip"}
	default:
		return fmt.Errorf("topologyBy %q: use ip or name", q.TopologyBy)
	}
	var err error
	p.Limit, err = intIn(q.Limit, models.DefaultTopologyLimit, 1, int(min(s.RowBudget, 10000)), "limit (edges)")
	return err
}

func selectAgents(requested []string, s *models.Settings) ([]string, error) {
	var names []string
	for _, r := range requested {
		for _, v := range expandMulti(r) {
			if v == "$__all" || v == "*" {
				return s.AgentNames(), nil
			}
			if v != "" {
				names = append(names, v)
			}
		}
	}
	if len(names) == 0 {
		return s.AgentNames(), nil
	}
	configured := s.AgentNames()
	var out []string
	for _, n := range names {
		if !models.Contains(configured, n) {
			return nil, fmt.Errorf("agents: %q is not a configured agent (configured: %s)", n, strings.Join(configured, ", "))
		}
		if !models.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func dedupe(v string, s *models.Settings) (bool, error) {
	switch v {
	case "", models.DedupeDefault:
		return s.DefaultDedupe == models.DedupeConnection, nil
	case models.DedupeNone:
		return false, nil
	case models.DedupeConnection:
		return true, nil
	}
	return false, fmt.Errorf("dedupe %q: use default, none or connection", v)
}

func metric(v string) (string, error) {
	if v == "" {
		return "bytes", nil
	}
	if !models.Contains(models.Metrics, v) {
		return "", fmt.Errorf("metric %q: use one of %v", v, models.Metrics)
	}
	return v, nil
}

func dimensions(dims []string, what string, minN, maxN int) ([]string, error) {
	var out []string
	for _, d := range dims {
		if d == "" {
			continue
		}
		if !models.Contains(models.Dimensions, d) {
			return nil, fmt.Errorf("%s: %q is not a dimension; use %v", what, d, models.Dimensions)
		}
		if models.Contains(out, d) {
			return nil, fmt.Errorf("%s: %q given twice", what, d)
		}
		out = append(out, d)
	}
	if len(out) < minN || len(out) > maxN {
		return nil, fmt.Errorf("%s: %d dimensions given, use %d to %d", what, len(out), minN, maxN)
	}
	return out, nil
}

func intIn(v *int64, def, lo, hi int, what string) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < int64(lo) || *v > int64(hi) {
		return 0, fmt.Errorf("%s %d: must be between %d and %d", what, *v, lo, hi)
	}
	return int(*v), nil
}

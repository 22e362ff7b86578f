package query

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Result is a merged answer to one plan. Exactly one of the kind fields is set.
type Result struct {
	Plan     Plan
	Flows    *federation.FlowsPage
	Top      *federation.TopMerged
	Series   *federation.SeriesMerged
	Summary  *models.SummaryResult
	Warnings []string // shown as frame notices (severity warning)
	Infos    []string // shown as frame notices (severity info)
	Failed   []*agentclient.Error
	Asked    int

	// agents whose answer lacks open flows (no flow table), or left some out (bounded), by include_open
	liveMu      sync.Mutex
	noFlowTable []string
	omitted     map[string]int64
}

// AllFailedError is returned when no selected agent answered; it lists each agent's problem.
type AllFailedError struct{ Failed []*agentclient.Error }

func (e *AllFailedError) Error() string {
	return "no agent answered: " + federation.DescribeFailures(e.Failed)
}

// Run executes the plan against the fleet.
func Run(ctx context.Context, fleet *federation.Fleet, p Plan) (*Result, error) {
	clients, err := fleet.Select(p.Agents)
	if err != nil {
		return nil, err
	}
	r := &Result{Plan: p, Asked: len(clients)}
	switch p.QueryType {
	case models.QueryTypeFlows:
		err = r.runFlows(ctx, fleet, clients)
	case models.QueryTypeTop, models.QueryTypeTopology:
		err = r.runTop(ctx, fleet, clients)
	case models.QueryTypeTimeseries:
		err = r.runTimeseries(ctx, fleet, clients)
	case models.QueryTypeSummary:
		err = r.runSummary(ctx, fleet, clients)
	default:
		err = fmt.Errorf("queryType %q: unknown", p.QueryType)
	}
	if err != nil {
		return nil, err
	}
	if len(r.Failed) > 0 {
		r.Warnings = append([]string{federation.MissingAgentsNotice(r.Failed, r.Asked)}, r.Warnings...)
	}
	r.liveNotices()
	return r, nil
}

func (p Plan) base(kind string) models.Query {
	return models.Query{Kind: kind, From: p.From, To: p.To, Filters: p.Filters, IncludeOpen: p.IncludeOpen}
}

// noteLive records what include_open added to one agent's answer (safe from fan-out goroutines).
func (r *Result) noteLive(agent string, live *models.LiveInfo) {
	if !r.Plan.IncludeOpen {
		return
	}
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	switch {
	case live == nil || !live.Available:
		if !slices.Contains(r.noFlowTable, agent) {
			r.noFlowTable = append(r.noFlowTable, agent)
		}
	case live.OmittedRecords > 0:
		if r.omitted == nil {
			r.omitted = map[string]int64{}
		}
		r.omitted[agent] = max(r.omitted[agent], live.OmittedRecords)
	}
}

func (r *Result) liveNotices() {
	if len(r.noFlowTable) > 0 {
		sort.Strings(r.noFlowTable)
		r.Infos = append(r.Infos, fmt.Sprintf("Open flows: agents %s have no flow table (serve mode or older agent): their stored records only", strings.Join(r.noFlowTable, ", ")))
	}
	if len(r.omitted) > 0 {
		parts := make([]string, 0, len(r.omitted))
		for agent, n := range r.omitted {
			parts = append(parts, fmt.Sprintf("%s %d", agent, n))
		}
		sort.Strings(parts)
		r.Warnings = append(r.Warnings, fmt.Sprintf("Open flows: some open or unwritten records were left out (agent http.live_max_records): %s; totals undercount them", strings.Join(parts, ", ")))
	}
}

// ask fans q out and decodes each reply into a fresh T; failures are recorded on r.
func ask[T any](ctx context.Context, r *Result, fleet *federation.Fleet, clients []*agentclient.Client, q models.Query) ([]federation.AgentResult[T], error) {
	return askEach[T](ctx, r, fleet, clients, func(*agentclient.Client) models.Query { return q })
}

// askEach is ask with a query built per agent.
func askEach[T any](ctx context.Context, r *Result, fleet *federation.Fleet, clients []*agentclient.Client, queryFor func(*agentclient.Client) models.Query) ([]federation.AgentResult[T], error) {
	outcomes := federation.FanOut(ctx, clients, fleet.MaxConcurrency, func(ctx context.Context, c *agentclient.Client) (T, error) {
		var out T
		err := c.QueryChecked(ctx, queryFor(c), &out)
		return out, err
	})
	ok, failed := federation.Split(outcomes)
	r.addFailed(failed)
	if len(ok) == 0 {
		return nil, &AllFailedError{Failed: r.Failed}
	}
	return ok, nil
}

func (r *Result) addFailed(failed []*agentclient.Error) {
	for _, f := range failed {
		dup := false
		for _, g := range r.Failed {
			dup = dup || g.Agent == f.Agent
		}
		if !dup {
			r.Failed = append(r.Failed, f)
		}
	}
}

func (r *Result) runFlows(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client) error {
	p := r.Plan
	cursor, err := federation.DecodeCursor(p.Cursor, p.Order)
	if err != nil {
		return err
	}
	fingerprint := p.pagingFingerprint()
	if p.Cursor != "" && cursor.Query != fingerprint {
		return fmt.Errorf("cursor: it pages a different query (agents, filters, order, page size or dedupe changed); start from the first page")
	}
	cursor.Query = fingerprint
	fetch := func(ctx context.Context, c *agentclient.Client, agentCursor string) (models.FlowsResult, error) {
		q := p.base(models.KindFlows)
		q.Order, q.Limit, q.Cursor = p.Order, models.Int64(int64(p.Limit)), agentCursor
		var out models.FlowsResult
		err := c.QueryChecked(ctx, q, &out)
		if err == nil {
			r.noteLive(c.Name, out.Live)
		}
		return out, err
	}
	page := federation.PageFlows(ctx, clients, fleet.MaxConcurrency, p.Limit, p.Order, cursor, fetch)
	r.addFailed(page.Failed)
	if len(r.Failed) == len(clients) {
		return &AllFailedError{Failed: r.Failed}
	}
	if p.Dedupe {
		before := len(page.Records)
		agentOf := page.AgentOf
		page.Records = federation.DedupeRecords(page.Records, func(i int) string { return agentOf[i] })
		page.AgentOf = nil
		if removed := before - len(page.Records); removed > 0 {
			r.Infos = append(r.Infos, fmt.Sprintf("Dedupe connection: %d records of connections also reported by another agent were hidden on this page", removed))
		}
	}
	r.Flows = &page
	return nil
}

// pagingFingerprint identifies what a flows cursor pages. The time range is left out on
// purpose: a relative range ("last hour") moves between page requests, and the agents'
// keyset cursors stay exact when it does.
func (p Plan) pagingFingerprint() string {
	b, _ := json.Marshal([]any{p.Agents, p.Filters, p.Order, p.Limit, p.Dedupe, p.IncludeOpen})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// runTop asks every agent for all of its groups (up to the row budget) so the merged top
// equals a top over the union of all records.
func (r *Result) runTop(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client) error {
	p := r.Plan
	q := p.base(models.KindTop)
	q.Metric, q.Limit = p.Metric, models.Int64(fleet.RowBudget)
	q.GroupBy = p.GroupBy
	if p.Dedupe {
		q.GroupBy = federation.WithDedupeDims(p.GroupBy)
	}
	results, err := ask[models.TopResult](ctx, r, fleet, clients, q)
	if err != nil {
		return err
	}
	for _, o := range results {
		r.noteLive(o.Agent, o.Result.Live)
	}
	if p.Dedupe {
		results = federation.DedupeTop(results, p.GroupBy)
	}
	merged := federation.MergeTop(results, p.GroupBy, p.Metric, p.Limit)
	what := "groups"
	if p.Dedupe {
		what = "connection groups (dedupe groups by community_id)"
	}
	if n := federation.TruncationNotice(merged.Truncated, fleet.RowBudget, what); n != "" {
		r.Warnings = append(r.Warnings, n)
	}
	r.Top = &merged
	return nil
}

func (r *Result) runTimeseries(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client) error {
	p := r.Plan
	q := p.base(models.KindTimeseries)
	q.Metric, q.IntervalMs = p.Metric, p.IntervalMs
	q.SplitBy = p.SplitBy
	seriesBudget := fleet.RowBudget
	if len(q.SplitBy) > 0 {
		// Every series of every agent, so merged ranks are exact, within the row budget
		// counted in values (series x buckets).
		buckets := max(1, (p.To-p.From+p.IntervalMs-1)/p.IntervalMs)
		seriesBudget = max(1, fleet.RowBudget/buckets)
		q.SplitLimit = models.Int64(seriesBudget)
	}
	queryFor := func(*agentclient.Client) models.Query { return q }
	if p.Dedupe && len(clients) > 1 { // one agent has no second reports from another
		excluded, answered, err := r.secondReports(ctx, fleet, clients)
		if err != nil {
			return err
		}
		clients = answered
		queryFor = func(c *agentclient.Client) models.Query { return withoutConnections(q, excluded[c.Name]) }
	}
	results, err := askEach[models.TimeseriesResult](ctx, r, fleet, clients, queryFor)
	if err != nil {
		return err
	}
	for _, o := range results {
		r.noteLive(o.Agent, o.Result.Live)
	}
	merged := federation.MergeTimeseries(results, p.SplitBy, p.Metric, p.SplitLimit)
	if n := federation.TruncationNotice(merged.Truncated, seriesBudget, "series (row budget / buckets)"); n != "" {
		r.Warnings = append(r.Warnings, n)
	}
	r.Series = &merged
	return nil
}

// MaxExcludedConnections bounds the second reports left out of one agent's time series
// query: they travel as community_id "not in" filters of at most 10000 values each, about
// 33 bytes a value, which keeps the request well under the agent's 1 MiB body limit.
const MaxExcludedConnections = 20000

// secondReports is the first step of a deduplicated time series: every agent's connections
// (a top by community_id and direction over the same range and filters), and from them the
// connections each agent must leave out because another agent reported them better. Only
// the agents that answered take part in the second step.
func (r *Result) secondReports(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client) (map[string][]string, []*agentclient.Client, error) {
	q := r.Plan.base(models.KindTop)
	q.GroupBy, q.Metric, q.Limit = models.ConnectionDimensions, "flows", models.Int64(fleet.RowBudget)
	results, err := ask[models.TopResult](ctx, r, fleet, clients, q)
	if err != nil {
		return nil, nil, err
	}
	answered := make([]*agentclient.Client, 0, len(results))
	var truncated []string
	for _, res := range results {
		answered = append(answered, clientNamed(clients, res.Agent))
		if res.Result.Other.Groups > 0 {
			truncated = append(truncated, res.Agent)
		}
	}
	if len(truncated) > 0 {
		sort.Strings(truncated)
		r.Warnings = append(r.Warnings, fmt.Sprintf("Row budget reached: agents %v reported more than %d connections, so dedupe could not list them all; the rest count without dedupe (narrow the time range or filters, or raise rowBudget)", truncated, fleet.RowBudget))
	}
	excluded := federation.SecondReports(results)
	room := min(MaxExcludedConnections, (models.MaxFilters-len(r.Plan.Filters))*models.MaxFilterValues)
	var capped []string
	for agent, cids := range excluded {
		if len(cids) > room {
			capped = append(capped, fmt.Sprintf("%s (%d more)", agent, len(cids)-room))
			excluded[agent] = cids[:room]
		}
	}
	if len(capped) > 0 {
		sort.Strings(capped)
		r.Warnings = append(r.Warnings, fmt.Sprintf("Dedupe connection: more than %d connections of one agent were also reported by another; these second reports still count: %s (narrow the time range or filters)", room, strings.Join(capped, ", ")))
	}
	return excluded, answered, nil
}

// withoutConnections adds community_id "not in" filters for cids to q (a copy).
func withoutConnections(q models.Query, cids []string) models.Query {
	if len(cids) == 0 {
		return q
	}
	q.Filters = slices.Clone(q.Filters)
	for chunk := range slices.Chunk(cids, models.MaxFilterValues) {
		values := make([]any, len(chunk))
		for i, cid := range chunk {
			values[i] = cid
		}
		q.Filters = append(q.Filters, models.Filter{Field: "community_id", Op: "nin", Values: values})
	}
	return q
}

func (r *Result) runSummary(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client) error {
	p := r.Plan
	results, err := ask[models.SummaryResult](ctx, r, fleet, clients, p.base(models.KindSummary))
	if err != nil {
		return err
	}
	answered := make([]*agentclient.Client, 0, len(results))
	for _, o := range results {
		answered = append(answered, clientNamed(clients, o.Agent))
		r.noteLive(o.Agent, o.Result.Live)
	}
	merged := federation.MergeSummary(results)
	if len(answered) > 1 {
		r.exactDistinct(ctx, fleet, answered, &merged)
	}
	if p.Dedupe {
		if err := r.dedupeSummary(ctx, fleet, answered, &merged); err != nil {
			return err
		}
	}
	r.Summary = &merged
	return nil
}

// exactDistinct replaces summed distinct address counts (which count an address seen by
// two agents twice) with the size of the union of the agents' distinct values.
func (r *Result) exactDistinct(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client, s *models.SummaryResult) {
	for _, dim := range []string{"src_ip", "dst_ip"} {
		q := r.Plan.base(models.KindValues)
		q.Dimension, q.Limit = dim, models.Int64(models.MaxValuesLimit)
		outcomes := federation.FanOut(ctx, clients, fleet.MaxConcurrency, func(ctx context.Context, c *agentclient.Client) (models.ValuesResult, error) {
			var out models.ValuesResult
			err := c.Query(ctx, q, &out)
			return out, err
		})
		values, failed := federation.Split(outcomes)
		if len(failed) > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("Distinct %s count is the sum over agents (may count an address twice): %s", dim, federation.DescribeFailures(failed)))
			continue
		}
		_, complete := federation.MergeValues(values, 0, models.MaxValuesLimit)
		if !complete {
			r.Infos = append(r.Infos, fmt.Sprintf("Distinct %s count is the sum over agents (more than %d distinct values on an agent)", dim, models.MaxValuesLimit))
			continue
		}
		if dim == "src_ip" {
			s.DistinctSrcIPs = federation.MergeDistinct(values)
		} else {
			s.DistinctDstIPs = federation.MergeDistinct(values)
		}
	}
}

// dedupeSummary recomputes the totals with each connection counted once, from a
// top by [community_id, direction, protocol] on every agent.
func (r *Result) dedupeSummary(ctx context.Context, fleet *federation.Fleet, clients []*agentclient.Client, s *models.SummaryResult) error {
	q := r.Plan.base(models.KindTop)
	q.GroupBy = federation.WithDedupeDims([]string{"protocol"})
	q.Metric, q.Limit = "bytes", models.Int64(fleet.RowBudget)
	results, err := ask[models.TopResult](ctx, r, fleet, clients, q)
	if err != nil {
		return err
	}
	merged := federation.MergeTop(federation.DedupeTop(results, []string{"direction", "protocol"}), []string{"direction", "protocol"}, "bytes", 0)
	s.Total = merged.Total
	s.ByDirection, s.ByProtocol = map[string]models.Totals{}, map[string]models.Totals{}
	for _, row := range merged.Rows {
		addTotals(s.ByDirection, federation.FormatValue(row.Key["direction"]), row.Totals)
		addTotals(s.ByProtocol, federation.FormatValue(row.Key["protocol"]), row.Totals)
	}
	if n := federation.TruncationNotice(merged.Truncated, fleet.RowBudget, "connection groups (dedupe groups by community_id)"); n != "" {
		r.Warnings = append(r.Warnings, n)
	}
	r.Infos = append(r.Infos, "Dedupe connection: totals count each connection once; record counts and first/last times are not deduplicated")
	return nil
}

func addTotals(m map[string]models.Totals, k string, t models.Totals) {
	acc := m[k]
	acc.Add(t)
	m[k] = acc
}

func clientNamed(clients []*agentclient.Client, name string) *agentclient.Client {
	for _, c := range clients {
		if c.Name == name {
			return c
		}
	}
	return nil
}

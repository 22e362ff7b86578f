package models

// Plugin query types (queryType of the Grafana DataQuery).
const (
	QueryTypeFlows      = "flows"
	QueryTypeTop        = "top"
	QueryTypeTimeseries = "timeseries"
	QueryTypeSummary    = "summary"
	QueryTypeTopology   = "topology"
)

// QueryTypes lists every query type the backend answers.
var QueryTypes = []string{QueryTypeFlows, QueryTypeTop, QueryTypeTimeseries, QueryTypeSummary, QueryTypeTopology}

// Defaults of the plugin query.
const (
	DefaultTopLimit      = 10
	DefaultFlowsPageSize = 1000
	DefaultSplitLimit    = 10
	DefaultTopologyLimit = 50
	TopologyByIP         = "ip"
	TopologyByName       = "name"
	DedupeDefault        = "default"
)

// PluginQuery is the JSON model of one panel query (docs/CONTRACTS.md "Plugin query";
// the frontend's twin is plugin/src/types.ts). Cursor and Interval are additive: Cursor is
// the composite cursor a previous flows page returned (frame meta custom.nextCursor);
// Interval overrides the bucket width of timeseries ("1m", "30s", "$__interval");
// IncludeOpen asks agents for open flows too (the agents' include_open).
type PluginQuery struct {
	RefID      string   `json:"refId"`
	QueryType  string   `json:"queryType"`
	Agents     []string `json:"agents,omitempty"`
	Filters    []Filter `json:"filters,omitempty"`
	Text       string   `json:"text,omitempty"`
	GroupBy    []string `json:"groupBy,omitempty"`
	Metric     string   `json:"metric,omitempty"`
	Limit      *int64   `json:"limit,omitempty"`
	SplitBy    []string `json:"splitBy,omitempty"`
	SplitLimit *int64   `json:"splitLimit,omitempty"`
	Order      string   `json:"order,omitempty"`
	Dedupe     string   `json:"dedupe,omitempty"`
	TopologyBy string   `json:"topologyBy,omitempty"`
	Cursor     string   `json:"cursor,omitempty"`
	Interval   string   `json:"interval,omitempty"`
	// IncludeOpen also shows flows still open in the agents' flow tables (additive field).
	IncludeOpen bool `json:"includeOpen,omitempty"`
}

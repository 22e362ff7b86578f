package models

import (
	"encoding/json"
	"strings"
)

// APIVersion is the agent API version this plugin speaks (GET /info api_version).
const APIVersion = 1

// Query kinds of the agent API.
const (
	KindFlows      = "flows"
	KindTop        = "top"
	KindTimeseries = "timeseries"
	KindSummary    = "summary"
	KindValues     = "values"
)

// Limits the agent schema enforces (agent/src/model/query.ts).
const (
	MaxFlowsPageSize   = 10000
	MaxTopLimit        = 100000
	MaxGroupBy         = 4 // besides ConnectionDimensions (MAX_GROUP_BY)
	MaxSplitBy         = 3
	MaxValuesLimit     = 10000
	MinIntervalMs      = 1000
	MaxFilters         = 100
	MaxFilterValues    = 10000 // values of one in/nin filter
	DefaultValuesLimit = 100
)

// ConnectionDimensions identify one agent's report of a connection; a top query may group by
// them on top of MaxGroupBy other dimensions (CONNECTION_DIMENSIONS in query.ts).
var ConnectionDimensions = []string{"community_id", "direction"}

// Dimensions a query can filter, group or split by (DIMENSIONS in query.ts).
var Dimensions = []string{
	"node", "interface", "direction", "protocol", "ip_version",
	"src_ip", "dst_ip", "src_port", "dst_port",
	"src_name", "dst_name", "src_type", "dst_type", "dst_domain",
	"conn_state", "community_id", "flow_id", "record_kind", "end_reason",
}

// EitherSideFields are filter-only pseudo fields matching src or dst.
var EitherSideFields = []string{"ip", "port", "name", "type"}

// NumericFields can be compared numerically in filters. A latency field is NULL (never
// matches) on records that carry no measurement, so `handshake_us gte 0` selects those that do.
var NumericFields = []string{
	"bytes", "bytes_tx", "bytes_rx", "packets", "packets_tx", "packets_rx", "duration_ms", "icmp_type", "icmp_code",
	"icmp_id", "handshake_us", "tcp_synack_us", "tcp_ack_us", "dns_rtt_us",
}

// FlagFields can be tested for TCP flags in filters.
var FlagFields = []string{"tcp_flags_src", "tcp_flags_dst", "tcp_flags"}

// Metrics an aggregate can measure (METRIC_AGGREGATION in query.ts), computed from Totals.
var Metrics = []string{
	"bytes", "bytes_tx", "bytes_rx", "packets", "packets_tx", "packets_rx", "flows",
	"handshakes", "handshake_us_avg", "handshake_us_max", "synack_us_avg", "ack_us_avg",
	"dns_responses", "dns_rtt_us_avg", "dns_rtt_us_max",
}

// How metrics combine over buckets, groups and agents.
const (
	AggregateSum = "sum"
	AggregateAvg = "avg"
	AggregateMax = "max"
)

// MetricAggregation is how a metric merges, by the contract's naming rule: a metric ending
// in _avg is an average (weighted by its measurement counts, never averaged as it comes:
// that would not be exact), one ending in _max a maximum, every other one a sum.
func MetricAggregation(metric string) string {
	switch {
	case strings.HasSuffix(metric, "_avg"):
		return AggregateAvg
	case strings.HasSuffix(metric, "_max"):
		return AggregateMax
	}
	return AggregateSum
}

// Directions in the order dedupe prefers a reporter: the initiator's node first.
var Directions = []string{"outbound", "forwarded", "inbound"}

// TCPFlagNames in bit order (FIN = 0x01 ... CWR = 0x80).
var TCPFlagNames = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// Contains reports whether list holds s.
func Contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FlowRecord mirrors FlowRecordSchema: one reporting period of one connection.
type FlowRecord struct {
	FlowID         string  `json:"flow_id"`
	Seq            int64   `json:"seq"`
	RecordKind     string  `json:"record_kind"`
	EndReason      string  `json:"end_reason"`
	Node           string  `json:"node"`
	Interface      string  `json:"interface"`
	FlowStartUs    int64   `json:"flow_start_us"`
	StartUs        int64   `json:"start_us"`
	EndUs          int64   `json:"end_us"`
	Direction      string  `json:"direction"`
	IPVersion      int64   `json:"ip_version"`
	Protocol       string  `json:"protocol"`
	ProtocolNumber int64   `json:"protocol_number"`
	SrcIP          string  `json:"src_ip"`
	SrcPort        int64   `json:"src_port"`
	DstIP          string  `json:"dst_ip"`
	DstPort        int64   `json:"dst_port"`
	SrcName        string  `json:"src_name"`
	SrcType        string  `json:"src_type"`
	DstName        string  `json:"dst_name"`
	DstType        string  `json:"dst_type"`
	DstDomain      string  `json:"dst_domain"`
	ICMPType       *int64  `json:"icmp_type"`
	ICMPCode       *int64  `json:"icmp_code"`
	PacketsTx      int64   `json:"packets_tx"`
	PacketsRx      int64   `json:"packets_rx"`
	BytesTx        int64   `json:"bytes_tx"`
	BytesRx        int64   `json:"bytes_rx"`
	TCPFlagsSrc    int64   `json:"tcp_flags_src"`
	TCPFlagsDst    int64   `json:"tcp_flags_dst"`
	ConnState      *string `json:"conn_state"`
	CommunityID    string  `json:"community_id"`
	ICMPID         *int64  `json:"icmp_id"`
	TCPSynAckUs    *int64  `json:"tcp_synack_us"`
	TCPAckUs       *int64  `json:"tcp_ack_us"`
	DNSRttUs       *int64  `json:"dns_rtt_us"`
}

// RecordKindOpen marks a flow still in the agent's flow table (include_open).
const RecordKindOpen = "open"

// Filter mirrors the FilterSchema union as one struct; which fields are set depends on Op.
type Filter struct {
	Field  string   `json:"field"`
	Op     string   `json:"op"`
	Value  any      `json:"value,omitempty"`
	Values []any    `json:"values,omitempty"`
	Min    *int64   `json:"min,omitempty"`
	Max    *int64   `json:"max,omitempty"`
	Flags  []string `json:"flags,omitempty"`
}

// Query mirrors the QuerySchema union (flows | top | timeseries | summary | values) as one
// struct; omitempty keeps each kind's body to the fields its schema allows.
type Query struct {
	Kind    string   `json:"kind"`
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Filters []Filter `json:"filters,omitempty"`
	// IncludeOpen also answers with flows still open in the agent's flow table.
	IncludeOpen bool `json:"include_open,omitempty"`
	// flows
	Order  string `json:"order,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	// flows, top, values (top: 0 = every group, so a pointer)
	Limit *int64 `json:"limit,omitempty"`
	// top
	GroupBy []string `json:"group_by,omitempty"`
	// top, timeseries
	Metric string `json:"metric,omitempty"`
	// timeseries
	IntervalMs int64    `json:"interval_ms,omitempty"`
	SplitBy    []string `json:"split_by,omitempty"`
	SplitLimit *int64   `json:"split_limit,omitempty"`
	// values
	Dimension string `json:"dimension,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
}

// Int64 returns a pointer to v (for optional query fields).
func Int64(v int64) *int64 { return &v }

// Totals mirrors TotalsSchema: sums, plus what latency metrics are computed from (sums and
// counts for averages, maxima), so merged totals give exact averages and maxima.
type Totals struct {
	Bytes          float64 `json:"bytes"`
	BytesTx        float64 `json:"bytes_tx"`
	BytesRx        float64 `json:"bytes_rx"`
	Packets        float64 `json:"packets"`
	PacketsTx      float64 `json:"packets_tx"`
	PacketsRx      float64 `json:"packets_rx"`
	Flows          float64 `json:"flows"`
	Handshakes     float64 `json:"handshakes"`
	SynAckUsSum    float64 `json:"synack_us_sum"`
	AckUsSum       float64 `json:"ack_us_sum"`
	HandshakeUsMax float64 `json:"handshake_us_max"`
	DNSResponses   float64 `json:"dns_responses"`
	DNSRttUsSum    float64 `json:"dns_rtt_us_sum"`
	DNSRttUsMax    float64 `json:"dns_rtt_us_max"`
}

// Add accumulates o into t: sums add, maxima take the larger.
func (t *Totals) Add(o Totals) {
	t.Bytes += o.Bytes
	t.BytesTx += o.BytesTx
	t.BytesRx += o.BytesRx
	t.Packets += o.Packets
	t.PacketsTx += o.PacketsTx
	t.PacketsRx += o.PacketsRx
	t.Flows += o.Flows
	t.Handshakes += o.Handshakes
	t.SynAckUsSum += o.SynAckUsSum
	t.AckUsSum += o.AckUsSum
	t.HandshakeUsMax = max(t.HandshakeUsMax, o.HandshakeUsMax)
	t.DNSResponses += o.DNSResponses
	t.DNSRttUsSum += o.DNSRttUsSum
	t.DNSRttUsMax = max(t.DNSRttUsMax, o.DNSRttUsMax)
}

// Mean is sum / count, 0 without measurements.
func Mean(sum, count float64) float64 {
	if count == 0 {
		return 0
	}
	return sum / count
}

// Metric returns a metric (one of Metrics) computed from the totals; an average without
// measurements and unknown names give 0.
func (t Totals) Metric(name string) float64 {
	switch name {
	case "bytes":
		return t.Bytes
	case "bytes_tx":
		return t.BytesTx
	case "bytes_rx":
		return t.BytesRx
	case "packets":
		return t.Packets
	case "packets_tx":
		return t.PacketsTx
	case "packets_rx":
		return t.PacketsRx
	case "flows":
		return t.Flows
	case "handshakes":
		return t.Handshakes
	case "handshake_us_avg":
		return Mean(t.SynAckUsSum+t.AckUsSum, t.Handshakes)
	case "handshake_us_max":
		return t.HandshakeUsMax
	case "synack_us_avg":
		return Mean(t.SynAckUsSum, t.Handshakes)
	case "ack_us_avg":
		return Mean(t.AckUsSum, t.Handshakes)
	case "dns_responses":
		return t.DNSResponses
	case "dns_rtt_us_avg":
		return Mean(t.DNSRttUsSum, t.DNSResponses)
	case "dns_rtt_us_max":
		return t.DNSRttUsMax
	}
	return 0
}

// GroupKey is a group's dimension values (string, number or null).
type GroupKey map[string]any

// TopRow is one group of a top result.
type TopRow struct {
	Key    GroupKey `json:"key"`
	Value  float64  `json:"value"`
	Totals Totals   `json:"totals"`
}

// TopOther sums everything outside the top rows.
type TopOther struct {
	Groups int64   `json:"groups"`
	Value  float64 `json:"value"`
	Totals Totals  `json:"totals"`
}

// Series is one series of a timeseries result. Counts (average metrics only) are the
// measurements behind each bucket's value: the weights of an exact merge.
type Series struct {
	Key    GroupKey  `json:"key"`
	Other  bool      `json:"other"`
	Values []float64 `json:"values"`
	Counts []float64 `json:"counts,omitempty"`
}

// LiveInfo mirrors LiveInfoSchema: what include_open added to an agent's answer.
type LiveInfo struct {
	Available      bool   `json:"available"`
	AsOfUs         *int64 `json:"as_of_us"`
	OpenRecords    int64  `json:"open_records"`
	PendingRecords int64  `json:"pending_records"`
	OmittedRecords int64  `json:"omitted_records"`
}

// ValueCount is one distinct value of a values result.
type ValueCount struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// The QueryResult union (QueryResultSchema): one Go type per kind, because the kinds
// reuse names with different shapes (flows "records" is a list, summary "records" a count).

// FlowsResult is the answer to a flows query.
type FlowsResult struct {
	Kind       string       `json:"kind"`
	Records    []FlowRecord `json:"records"`
	NextCursor *string      `json:"next_cursor"`
	Live       *LiveInfo    `json:"live,omitempty"`
}

// TopResult is the answer to a top query.
type TopResult struct {
	Kind    string    `json:"kind"`
	GroupBy []string  `json:"group_by"`
	Metric  string    `json:"metric"`
	Rows    []TopRow  `json:"rows"`
	Other   TopOther  `json:"other"`
	Total   Totals    `json:"total"`
	Live    *LiveInfo `json:"live,omitempty"`
}

// TimeseriesResult is the answer to a timeseries query.
type TimeseriesResult struct {
	Kind       string    `json:"kind"`
	IntervalMs int64     `json:"interval_ms"`
	Metric     string    `json:"metric"`
	SplitBy    []string  `json:"split_by"`
	Times      []int64   `json:"times"`
	Series     []Series  `json:"series"`
	Live       *LiveInfo `json:"live,omitempty"`
}

// SummaryResult is the answer to a summary query.
type SummaryResult struct {
	Kind           string            `json:"kind"`
	Total          Totals            `json:"total"`
	Records        int64             `json:"records"`
	FirstUs        *int64            `json:"first_us"`
	LastUs         *int64            `json:"last_us"`
	DistinctSrcIPs int64             `json:"distinct_src_ips"`
	DistinctDstIPs int64             `json:"distinct_dst_ips"`
	ByDirection    map[string]Totals `json:"by_direction"`
	ByProtocol     map[string]Totals `json:"by_protocol"`
	Live           *LiveInfo         `json:"live,omitempty"`
}

// ValuesResult is the answer to a values query.
type ValuesResult struct {
	Kind      string       `json:"kind"`
	Dimension string       `json:"dimension"`
	Values    []ValueCount `json:"values"`
	Live      *LiveInfo    `json:"live,omitempty"`
}

// ApiError mirrors ApiErrorSchema, the body of every agent 4xx/5xx.
type ApiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// AgentInfo is the part of GET /info the plugin relies on; other fields are tolerated.
type AgentInfo struct {
	APIVersion json.Number `json:"api_version"`
	Version    string      `json:"version"`
	Node       string      `json:"node"`
}

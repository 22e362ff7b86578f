// Package frames turns merged query results into Grafana data frames: a table for flows
// (units, display names, data links and ad-hoc filter support on addresses), a table for
// top that alert rules also accept (one numeric column plus string label columns when the
// request comes from alerting), multi time series frames for time series (labels make
// each series unique; no frames for no data), a single-row numeric frame for summary and
// node graph frames (nodes and edges) for topology.
package frames

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Notices travel on the first frame of a response.
type Notices struct {
	Warnings []string
	Infos    []string
}

func (n Notices) list() []data.Notice {
	var out []data.Notice
	for _, w := range n.Warnings {
		out = append(out, data.Notice{Severity: data.NoticeSeverityWarning, Text: w})
	}
	for _, i := range n.Infos {
		out = append(out, data.Notice{Severity: data.NoticeSeverityInfo, Text: i})
	}
	return out
}

// attach puts the notices on the first frame, creating an empty one if there is none.
func attach(frames data.Frames, n Notices, emptyMeta *data.FrameMeta) data.Frames {
	notices := n.list()
	if len(notices) == 0 {
		return frames
	}
	if len(frames) == 0 {
		frames = data.Frames{data.NewFrame("").SetMeta(emptyMeta)}
	}
	if frames[0].Meta == nil {
		frames[0].Meta = &data.FrameMeta{}
	}
	frames[0].Meta.Notices = append(frames[0].Meta.Notices, notices...)
	return frames
}

// MetricUnit is the Grafana unit of a metric: bytes (IEC) for byte metrics, microseconds
// for latency.
func MetricUnit(metric string) string {
	switch metric {
	case "bytes", "bytes_tx", "bytes_rx":
		return "bytes"
	case "handshake_us_avg", "handshake_us_max", "synack_us_avg", "ack_us_avg", "dns_rtt_us_avg", "dns_rtt_us_max":
		return UnitMicroseconds
	}
	return "short"
}

// UnitMicroseconds is Grafana's unit id for µs (scaled to ms and s when larger).
const UnitMicroseconds = "µs"

var dimensionLabels = map[string]string{
	"node": "Node", "interface": "Interface", "direction": "Direction", "protocol": "Protocol",
	"ip_version": "IP version", "src_ip": "Source IP", "dst_ip": "Destination IP",
	"src_port": "Source port", "dst_port": "Destination port", "src_name": "Source name",
	"dst_name": "Destination name", "src_type": "Source type", "dst_type": "Destination type",
	"dst_domain": "Domain", "conn_state": "Connection state", "community_id": "Community ID",
	"flow_id": "Flow ID", "record_kind": "Record kind", "end_reason": "End reason",
}

var metricLabels = map[string]string{
	"bytes": "Bytes", "bytes_tx": "Bytes sent", "bytes_rx": "Bytes received",
	"packets": "Packets", "packets_tx": "Packets sent", "packets_rx": "Packets received",
	"flows":      "Flows",
	"handshakes": "Handshakes", "handshake_us_avg": "Handshake (avg)", "handshake_us_max": "Handshake (max)",
	"synack_us_avg": "SYN → SYN/ACK (avg)", "ack_us_avg": "SYN/ACK → ACK (avg)",
	"dns_responses": "DNS responses", "dns_rtt_us_avg": "DNS response time (avg)", "dns_rtt_us_max": "DNS response time (max)",
}

// DimensionLabel is a dimension's display name.
func DimensionLabel(d string) string {
	if l, ok := dimensionLabels[d]; ok {
		return l
	}
	return d
}

// MetricLabel is a metric's display name.
func MetricLabel(m string) string {
	if l, ok := metricLabels[m]; ok {
		return l
	}
	return m
}

func config(display, unit string) *data.FieldConfig {
	return &data.FieldConfig{DisplayName: display, Unit: unit}
}

// TCPFlags renders a flags byte as "SYN,ACK" (empty when none).
func TCPFlags(bits int64) string {
	out := ""
	for i, name := range models.TCPFlagNames {
		if bits&(1<<i) != 0 {
			if out != "" {
				out += ","
			}
			out += name
		}
	}
	return out
}

package frames

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

var typeVersion = data.FrameTypeVersion{0, 1}

// Top builds the top table: one string column per dimension, the metric, then totals,
// and an "other" row summing the groups beyond the limit. forAlerting drops the totals so
// the frame has exactly one numeric column, the shape Grafana's server-side expressions
// read as one number per label set, and drops the "other" row: it is a sum over many
// groups, not a group, and an alert must not fire on it (a top-N port-scan rule would
// otherwise fire when the sources beyond N add up, with no single scanner).
func Top(m federation.TopMerged, forAlerting bool, n Notices) data.Frames {
	rows := len(m.Rows)
	withOther := m.Other.Groups > 0 && !forAlerting
	if withOther {
		rows++
	}
	dims := make([][]string, len(m.GroupBy))
	for i := range dims {
		dims[i] = make([]string, 0, rows)
	}
	value := make([]float64, 0, rows)
	var totalBytes, totalPackets, totalFlows []float64
	extras := companionMetrics(m.Metric)
	extraValues := make([][]float64, len(extras))
	add := func(key models.GroupKey, v float64, t models.Totals) {
		for i, d := range m.GroupBy {
			dims[i] = append(dims[i], federation.FormatValue(key[d]))
		}
		value = append(value, v)
		totalBytes = append(totalBytes, t.Bytes)
		totalPackets = append(totalPackets, t.Packets)
		totalFlows = append(totalFlows, t.Flows)
		for i, e := range extras {
			extraValues[i] = append(extraValues[i], t.Metric(e))
		}
	}
	for _, r := range m.Rows {
		add(r.Key, r.Value, r.Totals)
	}
	if withOther {
		key := models.GroupKey{}
		for _, d := range m.GroupBy {
			key[d] = federation.OtherValue
		}
		add(key, m.Other.Value, m.Other.Totals)
	}
	frame := data.NewFrame("top")
	for i, d := range m.GroupBy {
		frame.Fields = append(frame.Fields, data.NewField(d, nil, dims[i]).SetConfig(config(DimensionLabel(d), "").SetFilterable(true)))
	}
	frame.Fields = append(frame.Fields, data.NewField(m.Metric, nil, value).SetConfig(config(MetricLabel(m.Metric), MetricUnit(m.Metric))))
	if !forAlerting {
		for i, e := range extras {
			frame.Fields = append(frame.Fields, data.NewField(e, nil, extraValues[i]).SetConfig(config(MetricLabel(e), MetricUnit(e))))
		}
		frame.Fields = append(frame.Fields,
			data.NewField("total_bytes", nil, totalBytes).SetConfig(config("Bytes (total)", "bytes")),
			data.NewField("total_packets", nil, totalPackets).SetConfig(config("Packets (total)", "short")),
			data.NewField("total_flows", nil, totalFlows).SetConfig(config("Flows (total)", "short")),
		)
	}
	meta := &data.FrameMeta{PreferredVisualization: data.VisTypeTable, Custom: map[string]any{
		"otherGroups": m.Other.Groups, "total": m.Total,
	}}
	frame.SetMeta(meta)
	return attach(data.Frames{frame}, n, meta)
}

// companionMetrics are shown beside a latency metric in a top table (the other statistics
// of the same measurement and how many there were), so one panel tells the whole story.
func companionMetrics(metric string) []string {
	var family []string
	switch metric {
	case "handshakes", "handshake_us_avg", "handshake_us_max", "synack_us_avg", "ack_us_avg":
		family = []string{"handshake_us_avg", "synack_us_avg", "ack_us_avg", "handshake_us_max", "handshakes"}
	case "dns_responses", "dns_rtt_us_avg", "dns_rtt_us_max":
		family = []string{"dns_rtt_us_avg", "dns_rtt_us_max", "dns_responses"}
	}
	out := make([]string, 0, len(family))
	for _, m := range family {
		if m != metric {
			out = append(out, m)
		}
	}
	return out
}

// Timeseries builds one frame per series (TimeSeriesMulti): time plus the metric, with the
// series key as labels. No series gives no frames (Grafana's "no data"). A bucket of an
// average without measurements is null (a gap), not 0.
func Timeseries(m federation.SeriesMerged, n Notices) data.Frames {
	meta := func() *data.FrameMeta {
		return &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: typeVersion}
	}
	times := make([]time.Time, len(m.Times))
	for i, t := range m.Times {
		times[i] = time.UnixMilli(t).UTC()
	}
	frames := data.Frames{}
	for _, s := range m.Series {
		labels := data.Labels{}
		for _, d := range m.SplitBy {
			labels[d] = federation.FormatValue(s.Key[d])
		}
		cfg := config("", MetricUnit(m.Metric))
		cfg.DisplayNameFromDS = seriesName(m.Metric, m.SplitBy, labels)
		frame := data.NewFrame(m.Metric,
			data.NewField("time", nil, append([]time.Time(nil), times...)),
			seriesValues(m.Metric, labels, s).SetConfig(cfg),
		).SetMeta(meta())
		frame.Meta.Custom = map[string]any{"intervalMs": m.IntervalMs}
		frames = append(frames, frame)
	}
	return attach(frames, n, meta())
}

// seriesValues is a series' value field: plain numbers, or for averages numbers with
// nulls where a bucket had no measurement.
func seriesValues(metric string, labels data.Labels, s models.Series) *data.Field {
	if models.MetricAggregation(metric) != models.AggregateAvg {
		return data.NewField(metric, labels, append([]float64(nil), s.Values...))
	}
	values := make([]*float64, len(s.Values))
	for i, v := range s.Values {
		if i < len(s.Counts) && s.Counts[i] > 0 {
			values[i] = &v
		}
	}
	return data.NewField(metric, labels, values)
}

func seriesName(metric string, splitBy []string, labels data.Labels) string {
	if len(splitBy) == 0 {
		return MetricLabel(metric)
	}
	parts := make([]string, len(splitBy))
	for i, d := range splitBy {
		v := labels[d]
		if v == "" {
			v = "(none)"
		}
		parts[i] = v
	}
	return strings.Join(parts, " ")
}

// Summary builds a single-row numeric frame (NumericWide). For alerting it holds only the
// query's metric: server-side expressions read every numeric field of a NumericWide frame
// as a number identified by its labels, and a dozen unlabelled numbers repeat the same
// (empty) label set, which Grafana refuses.
func Summary(s models.SummaryResult, metric string, forAlerting bool, n Notices) data.Frames {
	if forAlerting {
		frame := data.NewFrame("summary", data.NewField(metric, nil, []float64{s.Total.Metric(metric)}).SetConfig(config(MetricLabel(metric), MetricUnit(metric))))
		meta := &data.FrameMeta{Type: data.FrameTypeNumericWide, TypeVersion: typeVersion}
		frame.SetMeta(meta)
		return attach(data.Frames{frame}, n, meta)
	}
	frame := data.NewFrame("summary")
	add := func(name, display, unit string, v float64) {
		frame.Fields = append(frame.Fields, data.NewField(name, nil, []float64{v}).SetConfig(config(display, unit)))
	}
	t := s.Total
	add("bytes", "Bytes", "bytes", t.Bytes)
	add("bytes_tx", "Bytes sent", "bytes", t.BytesTx)
	add("bytes_rx", "Bytes received", "bytes", t.BytesRx)
	add("packets", "Packets", "short", t.Packets)
	add("packets_tx", "Packets sent", "short", t.PacketsTx)
	add("packets_rx", "Packets received", "short", t.PacketsRx)
	add("flows", "Flows", "short", t.Flows)
	add("records", "Records", "short", float64(s.Records))
	add("distinct_src_ips", "Distinct sources", "short", float64(s.DistinctSrcIPs))
	add("distinct_dst_ips", "Distinct destinations", "short", float64(s.DistinctDstIPs))
	for _, dir := range models.Directions {
		add("bytes_"+dir, "Bytes "+dir, "bytes", s.ByDirection[dir].Bytes)
	}
	protocols := make([]string, 0, len(s.ByProtocol))
	for p := range s.ByProtocol {
		protocols = append(protocols, p)
	}
	sort.Strings(protocols)
	for _, p := range protocols {
		add("bytes_"+p, fmt.Sprintf("Bytes %s", strings.ToUpper(p)), "bytes", s.ByProtocol[p].Bytes)
	}
	meta := &data.FrameMeta{Type: data.FrameTypeNumericWide, TypeVersion: typeVersion, Custom: map[string]any{
		"firstUs": s.FirstUs, "lastUs": s.LastUs,
	}}
	frame.SetMeta(meta)
	return attach(data.Frames{frame}, n, meta)
}

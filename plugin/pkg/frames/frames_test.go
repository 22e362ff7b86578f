package frames

import (
	"flag"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Run `go test ./pkg/frames -update` to rewrite the golden files after a deliberate change.
var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, frames data.Frames) {
	t.Helper()
	dr := backend.DataResponse{Frames: frames}
	experimental.CheckGoldenJSONResponse(t, "testdata", name, &dr, *update)
}

func ptr[T any](v T) *T { return &v }

var sampleRecords = []models.FlowRecord{
	{FlowID: "f1", Seq: 0, RecordKind: "final", EndReason: "tcp_close", Node: "laptop", Interface: "wg0",
		FlowStartUs: 1700000000000000, StartUs: 1700000000000000, EndUs: 1700000001500000, Direction: "outbound",
		IPVersion: 4, Protocol: "tcp", ProtocolNumber: 6, SrcIP: "100.64.0.2", SrcPort: 51000, DstIP: "100.64.0.1", DstPort: 443,
		SrcName: "laptop", SrcType: "node", DstName: "gateway", DstType: "node", DstDomain: "gw.mesh",
		PacketsTx: 10, PacketsRx: 8, BytesTx: 1500, BytesRx: 64000, TCPFlagsSrc: 0x1b, TCPFlagsDst: 0x13,
		ConnState: ptr("SF"), CommunityID: "1:abc="},
	{FlowID: "f2", Seq: 0, RecordKind: "final", EndReason: "idle_timeout", Node: "gateway", Interface: "wg0",
		FlowStartUs: 1700000002000000, StartUs: 1700000002000000, EndUs: 1700000002000000, Direction: "forwarded",
		IPVersion: 6, Protocol: "icmpv6", ProtocolNumber: 58, SrcIP: "fd00::2", DstIP: "fd00::9",
		SrcType: "unknown", DstType: "unknown", ICMPType: ptr(int64(128)), ICMPCode: ptr(int64(0)),
		PacketsTx: 1, BytesTx: 104, ConnState: ptr("S0"), CommunityID: "1:def=", ICMPID: ptr(int64(4242))},
	{FlowID: "f3", Seq: 0, RecordKind: "open", EndReason: "open", Node: "laptop", Interface: "wg0",
		FlowStartUs: 1700000003000000, StartUs: 1700000003000000, EndUs: 1700000003100000, Direction: "outbound",
		IPVersion: 4, Protocol: "tcp", ProtocolNumber: 6, SrcIP: "100.64.0.2", SrcPort: 51001, DstIP: "100.64.0.1", DstPort: 443,
		SrcType: "node", DstType: "node", PacketsTx: 3, PacketsRx: 1, BytesTx: 164, BytesRx: 60, TCPFlagsSrc: 0x12, TCPFlagsDst: 0x12,
		ConnState: ptr("S1"), CommunityID: "1:ghi=", TCPSynAckUs: ptr(int64(21000)), TCPAckUs: ptr(int64(350))},
}

func TestFlowsFrameGolden(t *testing.T) {
	golden(t, "flows", Flows(sampleRecords, "next-page-cursor", Notices{Warnings: []string{"Partial data: 1 of 3 agents missing (relay). agent relay: timeout after 10000ms"}}))
}

func sampleTop() federation.TopMerged {
	return federation.TopMerged{GroupBy: []string{"src_ip", "dst_port"}, Metric: "bytes",
		Rows: []models.TopRow{
			{Key: models.GroupKey{"src_ip": "10.0.0.1", "dst_port": int64(443)}, Value: 9000, Totals: models.Totals{Bytes: 9000, Packets: 12, Flows: 3}},
			{Key: models.GroupKey{"src_ip": "10.0.0.2", "dst_port": int64(53)}, Value: 300, Totals: models.Totals{Bytes: 300, Packets: 4, Flows: 2}},
		},
		Other: models.TopOther{Groups: 4, Value: 120, Totals: models.Totals{Bytes: 120, Packets: 3, Flows: 4}},
		Total: models.Totals{Bytes: 9420, Packets: 19, Flows: 9}}
}

func TestTopFrameGolden(t *testing.T) {
	golden(t, "top", Top(sampleTop(), false, Notices{}))
}

func TestTopFrameForAlertingHasOneNumericColumn(t *testing.T) {
	frames := Top(sampleTop(), true, Notices{})
	golden(t, "top_alerting", frames)
	numeric := 0
	for _, f := range frames[0].Fields {
		if f.Type().Numeric() {
			numeric++
		} else if f.Type() != data.FieldTypeString {
			t.Errorf("field %s is %s: alerting wants strings and one number", f.Name, f.Type())
		}
	}
	if numeric != 1 {
		t.Errorf("%d numeric fields, alerting needs exactly 1", numeric)
	}
	// The "other" row sums the groups beyond the limit: no alert instance may stand for it.
	if rows, _ := frames[0].RowLen(); rows != len(sampleTop().Rows) {
		t.Errorf("%d rows for alerting, want the %d groups without other", rows, len(sampleTop().Rows))
	}
	if tableRows := len(frameValues(Top(sampleTop(), false, Notices{})[0], "src_ip")); tableRows != len(sampleTop().Rows)+1 {
		t.Errorf("the table keeps the other row: %d rows", tableRows)
	}
}

func frameValues(f *data.Frame, name string) []any {
	field, _ := f.FieldByName(name)
	if field == nil {
		return nil
	}
	out := make([]any, field.Len())
	for i := range out {
		out[i] = field.At(i)
	}
	return out
}

func sampleSeries() federation.SeriesMerged {
	return federation.SeriesMerged{IntervalMs: 60000, Metric: "bytes", SplitBy: []string{"direction"},
		Times: []int64{1700000000000, 1700000060000, 1700000120000},
		Series: []models.Series{
			{Key: models.GroupKey{"direction": "outbound"}, Values: []float64{10, 20, 30}},
			{Key: models.GroupKey{"direction": "inbound"}, Values: []float64{1, 0, 2}},
			{Key: models.GroupKey{"direction": "other"}, Other: true, Values: []float64{0, 5, 0}},
		}}
}

func TestTimeseriesFramesGolden(t *testing.T) {
	frames := Timeseries(sampleSeries(), Notices{})
	golden(t, "timeseries", frames)
	seen := map[string]bool{}
	for _, f := range frames {
		if f.Meta.Type != data.FrameTypeTimeSeriesMulti || f.Meta.TypeVersion.IsZero() {
			t.Errorf("frame meta %+v: alerting needs a typed, versioned frame", f.Meta)
		}
		key := f.Fields[1].Labels.String()
		if seen[key] {
			t.Errorf("labels %s repeat: alert series must be unique", key)
		}
		seen[key] = true
	}
}

// A latency top shows the measurement's other statistics beside the metric (except for
// alerting: one number per row); an average series has gaps where a bucket had no measurement.
func TestLatencyFrames(t *testing.T) {
	top := federation.TopMerged{GroupBy: []string{"dst_ip"}, Metric: "handshake_us_avg",
		Rows: []models.TopRow{{Key: models.GroupKey{"dst_ip": "10.0.0.9"}, Value: 30500,
			Totals: models.Totals{Flows: 4, Handshakes: 2, SynAckUsSum: 60000, AckUsSum: 1000, HandshakeUsMax: 50000}}}}
	golden(t, "top_latency", Top(top, false, Notices{}))
	if fields := Top(top, true, Notices{})[0].Fields; len(fields) != 2 || fields[1].Config.Unit != UnitMicroseconds {
		t.Errorf("alerting frame %v", fields)
	}
	avg := federation.SeriesMerged{IntervalMs: 60000, Metric: "dns_rtt_us_avg", Times: []int64{1700000000000, 1700000060000},
		Series: []models.Series{{Key: models.GroupKey{}, Values: []float64{1500, 0}, Counts: []float64{2, 0}}}}
	frames := Timeseries(avg, Notices{})
	golden(t, "timeseries_average", frames)
	if v := frames[0].Fields[1]; v.At(0).(*float64) == nil || *v.At(0).(*float64) != 1500 || v.At(1).(*float64) != nil {
		t.Errorf("values %v %v: want 1500 then a gap", v.At(0), v.At(1))
	}
}

func TestTimeseriesNoDataIsNoFrames(t *testing.T) {
	empty := federation.SeriesMerged{Metric: "bytes"}
	if got := Timeseries(empty, Notices{}); len(got) != 0 {
		t.Errorf("%d frames for no data", len(got))
	}
	withNotice := Timeseries(empty, Notices{Warnings: []string{"agent b missing"}})
	if len(withNotice) != 1 || len(withNotice[0].Fields) != 0 || len(withNotice[0].Meta.Notices) != 1 {
		t.Errorf("no data with a notice should be one empty frame carrying it: %+v", withNotice)
	}
}

func sampleSummary() models.SummaryResult {
	first, last := int64(1700000000000000), int64(1700000100000000)
	return models.SummaryResult{Kind: "summary",
		Total:   models.Totals{Bytes: 1000, BytesTx: 600, BytesRx: 400, Packets: 10, PacketsTx: 6, PacketsRx: 4, Flows: 3},
		Records: 4, FirstUs: &first, LastUs: &last, DistinctSrcIPs: 2, DistinctDstIPs: 3,
		ByDirection: map[string]models.Totals{"outbound": {Bytes: 700}, "inbound": {Bytes: 300}},
		ByProtocol:  map[string]models.Totals{"tcp": {Bytes: 900}, "udp": {Bytes: 100}},
	}
}

func TestSummaryFrameGolden(t *testing.T) {
	golden(t, "summary", Summary(sampleSummary(), "bytes", false, Notices{Infos: []string{"Dedupe connection: totals count each connection once"}}))
}

// Alerting reads a NumericWide frame as one number per numeric field, identified by its
// labels: the alert frame must hold one number (the query's metric), not a dozen unlabelled ones.
func TestSummaryFrameForAlertingIsOneNumber(t *testing.T) {
	frames := Summary(sampleSummary(), "flows", true, Notices{})
	golden(t, "summary_alerting", frames)
	if len(frames) != 1 || len(frames[0].Fields) != 1 || frames[0].Fields[0].Name != "flows" {
		t.Fatalf("want one frame with the one field flows: %+v", frames)
	}
	if v := frames[0].Fields[0].At(0).(float64); v != 3 {
		t.Errorf("flows = %v, want 3", v)
	}
	if frames[0].Meta.Type != data.FrameTypeNumericWide || frames[0].Meta.TypeVersion.IsZero() {
		t.Errorf("meta %+v: alerting needs a typed, versioned frame", frames[0].Meta)
	}
}

func TestTopologyFramesGolden(t *testing.T) {
	m := federation.TopMerged{GroupBy: []string{"src_ip", "dst_ip"}, Metric: "bytes",
		Rows: []models.TopRow{
			{Key: models.GroupKey{"src_ip": "10.0.0.1", "dst_ip": "10.0.0.2"}, Value: 800, Totals: models.Totals{Bytes: 800, Packets: 8, Flows: 2}},
			{Key: models.GroupKey{"src_ip": "10.0.0.2", "dst_ip": "10.0.0.3"}, Value: 200, Totals: models.Totals{Bytes: 200, Packets: 2, Flows: 1}},
		}}
	frames := Topology(m, models.TopologyByIP, Notices{})
	golden(t, "topology", frames)
	if frames[0].Name != "nodes" || frames[1].Name != "edges" {
		t.Fatalf("frame names %s %s", frames[0].Name, frames[1].Name)
	}
	// arcs of each node sum to 1
	sent, recv := frames[0].Fields[5], frames[0].Fields[6]
	for i := 0; i < sent.Len(); i++ {
		if s := sent.At(i).(float64) + recv.At(i).(float64); s < 0.999 || s > 1.001 {
			t.Errorf("node %d arcs sum to %v", i, s)
		}
	}
}

// Without an inventory names are empty: endpoints fall back to their addresses (one node
// per address, never one "(unnamed)" node), and address pairs joining the same two
// endpoints become one edge.
func TestTopologyByNameFallsBackToAddresses(t *testing.T) {
	key := func(sn, si, dn, di string) models.GroupKey {
		return models.GroupKey{"src_name": sn, "src_ip": si, "dst_name": dn, "dst_ip": di}
	}
	m := federation.TopMerged{GroupBy: []string{"src_name", "src_ip", "dst_name", "dst_ip"}, Metric: "bytes",
		Rows: []models.TopRow{
			{Key: key("", "10.0.0.1", "", "10.0.0.2"), Value: 3 << 20, Totals: models.Totals{Bytes: 3 << 20, Packets: 2100, Flows: 2}},
			{Key: key("gw", "10.0.0.3", "lan", "192.168.1.5"), Value: 1536, Totals: models.Totals{Bytes: 1536, Packets: 4, Flows: 1}},
			{Key: key("gw", "fd00::3", "lan", "192.168.1.5"), Value: 512, Totals: models.Totals{Bytes: 512, Packets: 2, Flows: 1}},
		}}
	frames := Topology(m, models.TopologyByName, Notices{})
	if got := frameValues(frames[0], "id"); !equalAny(got, "10.0.0.1", "10.0.0.2", "gw", "lan") {
		t.Errorf("node ids %v", got)
	}
	if got := frameValues(frames[1], "id"); !equalAny(got, "10.0.0.1->10.0.0.2", "gw->lan") {
		t.Errorf("edge ids %v", got)
	}
	if got := frameValues(frames[1], "mainstat"); !equalAny(got, "3.00 MiB", "2.00 KiB") {
		t.Errorf("edge main stats %v", got)
	}
	if got := frameValues(frames[1], "secondarystat"); !equalAny(got, "2 conns", "2 conns") {
		t.Errorf("edge second stats %v", got)
	}
	if got := frameValues(frames[0], "mainstat"); !equalAny(got, "3.00 MiB sent", "0 B sent", "2.00 KiB sent", "0 B sent") {
		t.Errorf("node main stats %v", got)
	}
	if got := frameValues(frames[1], "detail__packets"); !equalAny(got, "2.10K pkts", "6 pkts") {
		t.Errorf("edge packets %v", got)
	}
}

func equalAny(got []any, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FormatBytes(0), "0 B"}, {FormatBytes(1023), "1023 B"}, {FormatBytes(1024), "1.00 KiB"},
		{FormatBytes(1048576), "1.00 MiB"}, {FormatBytes(15.5 * 1024 * 1024 * 1024), "15.5 GiB"},
		{FormatCount(999), "999"}, {FormatCount(1234), "1.23K"}, {FormatCount(456789012), "457M"},
		{FormatMetric("flows", 12), "12 conns"}, {FormatMetric("packets_tx", 1500), "1.50K pkts"},
		{FormatMetric("bytes_rx", 2048), "2.00 KiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTCPFlagsAndEndpoint(t *testing.T) {
	if got := TCPFlags(0x12); got != "SYN,ACK" {
		t.Errorf("0x12 -> %q", got)
	}
	if got := TCPFlags(0); got != "" {
		t.Errorf("0 -> %q", got)
	}
	if got := Endpoint("gw", "fd00::1", 443); got != "gw ([fd00::1]:443)" {
		t.Errorf("endpoint %q", got)
	}
	if got := Endpoint("", "10.0.0.1", 0); got != "10.0.0.1" {
		t.Errorf("endpoint %q", got)
	}
}

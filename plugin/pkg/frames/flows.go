package frames

import (
	"net"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Address fields are filterable: on a dashboard with an ad-hoc filter variable for this
// data source, Grafana's "filter for / filter out value" buttons add an ad-hoc filter keyed
// by the field name (src_ip / dst_ip, valid agent dimensions). Data links are left to the
// dashboards, which know their own variables (a link to an undefined variable does nothing).

// Flows builds the flows table. nextCursor ("" on the last page) goes to meta.custom.
func Flows(records []models.FlowRecord, nextCursor string, n Notices) data.Frames {
	count := len(records)
	start := make([]time.Time, count)
	end := make([]time.Time, count)
	str := func() []string { return make([]string, count) }
	num := func() []int64 { return make([]int64, count) }
	node, direction, protocol, source, srcIP, destination, dstIP, domain := str(), str(), str(), str(), str(), str(), str(), str()
	flagsSrc, flagsDst, community, flowID, kind := str(), str(), str(), str(), str()
	srcPort, dstPort, bytesTx, bytesRx, packetsTx, packetsRx := num(), num(), num(), num(), num(), num()
	connState := make([]*string, count)
	optional := func() []*int64 { return make([]*int64, count) }
	icmpID, synAck, ack, dnsRtt := optional(), optional(), optional(), optional()
	for i, r := range records {
		start[i] = time.UnixMicro(r.StartUs).UTC()
		end[i] = time.UnixMicro(r.EndUs).UTC()
		node[i], direction[i], protocol[i] = r.Node, r.Direction, r.Protocol
		source[i] = Endpoint(r.SrcName, r.SrcIP, r.SrcPort)
		destination[i] = Endpoint(r.DstName, r.DstIP, r.DstPort)
		srcIP[i], dstIP[i], domain[i] = r.SrcIP, r.DstIP, r.DstDomain
		srcPort[i], dstPort[i] = r.SrcPort, r.DstPort
		bytesTx[i], bytesRx[i], packetsTx[i], packetsRx[i] = r.BytesTx, r.BytesRx, r.PacketsTx, r.PacketsRx
		flagsSrc[i], flagsDst[i] = TCPFlags(r.TCPFlagsSrc), TCPFlags(r.TCPFlagsDst)
		connState[i] = r.ConnState
		community[i], flowID[i], kind[i] = r.CommunityID, r.FlowID, r.RecordKind
		icmpID[i], synAck[i], ack[i], dnsRtt[i] = r.ICMPID, r.TCPSynAckUs, r.TCPAckUs, r.DNSRttUs
	}
	filterable := func(c *data.FieldConfig) *data.FieldConfig { return c.SetFilterable(true) }
	frame := data.NewFrame("flows",
		data.NewField("start", nil, start).SetConfig(config("Start", "")),
		data.NewField("end", nil, end).SetConfig(config("End", "")),
		data.NewField("node", nil, node).SetConfig(filterable(config("Node", ""))),
		data.NewField("direction", nil, direction).SetConfig(filterable(config("Direction", ""))),
		data.NewField("source", nil, source).SetConfig(config("Source", "")),
		data.NewField("protocol", nil, protocol).SetConfig(filterable(config("Protocol", ""))),
		data.NewField("destination", nil, destination).SetConfig(config("Destination", "")),
		data.NewField("bytes_tx", nil, bytesTx).SetConfig(config("Bytes sent", "bytes")),
		data.NewField("bytes_rx", nil, bytesRx).SetConfig(config("Bytes received", "bytes")),
		data.NewField("packets_tx", nil, packetsTx).SetConfig(config("Packets sent", "short")),
		data.NewField("packets_rx", nil, packetsRx).SetConfig(config("Packets received", "short")),
		data.NewField("tcp_flags_src", nil, flagsSrc).SetConfig(config("Source TCP flags", "")),
		data.NewField("tcp_flags_dst", nil, flagsDst).SetConfig(config("Destination TCP flags", "")),
		data.NewField("conn_state", nil, connState).SetConfig(filterable(config("Connection state", ""))),
		data.NewField("src_ip", nil, srcIP).SetConfig(filterable(config("Source IP", ""))),
		data.NewField("src_port", nil, srcPort).SetConfig(filterable(config("Source port", "none"))),
		data.NewField("dst_ip", nil, dstIP).SetConfig(filterable(config("Destination IP", ""))),
		data.NewField("dst_port", nil, dstPort).SetConfig(filterable(config("Destination port", "none"))),
		data.NewField("dst_domain", nil, domain).SetConfig(filterable(config("Domain", ""))),
		data.NewField("community_id", nil, community).SetConfig(filterable(config("Community ID", ""))),
		data.NewField("flow_id", nil, flowID).SetConfig(config("Flow ID", "")),
		// open: the flow is still in the agent's flow table (include_open); counters so far
		data.NewField("record_kind", nil, kind).SetConfig(filterable(config("Record", ""))),
		data.NewField("icmp_id", nil, icmpID).SetConfig(config("ICMP echo id", "none")),
		data.NewField("tcp_synack_us", nil, synAck).SetConfig(config("SYN → SYN/ACK", UnitMicroseconds)),
		data.NewField("tcp_ack_us", nil, ack).SetConfig(config("SYN/ACK → ACK", UnitMicroseconds)),
		data.NewField("dns_rtt_us", nil, dnsRtt).SetConfig(config("DNS response time", UnitMicroseconds)),
	)
	meta := &data.FrameMeta{PreferredVisualization: data.VisTypeTable, Custom: map[string]any{"nextCursor": nextCursor}}
	frame.SetMeta(meta)
	return attach(data.Frames{frame}, n, meta)
}

// Endpoint renders "name (ip:port)" or "ip:port"; port 0 (no ports) shows the address only.
func Endpoint(name, ip string, port int64) string {
	addr := ip
	if port != 0 {
		addr = net.JoinHostPort(ip, strconv.FormatInt(port, 10))
	}
	if name == "" {
		return addr
	}
	return name + " (" + addr + ")"
}

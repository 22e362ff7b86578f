package frames

import (
	"math"
	"sort"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

type graphNode struct {
	id, title, subtitle string
	sent, received      float64
}

// endpoint names a side of an edge: by address, or by name with the address as fallback.
func endpoint(key models.GroupKey, side, by string) (id, title, subtitle string) {
	ip := federation.FormatValue(key[side+"_ip"])
	if by == models.TopologyByName || by == models.TopologyByPeer {
		name := federation.FormatValue(key[side+"_name"])
		if name == "" {
			if ip == "" {
				return "(unnamed)", "(unnamed)", ""
			}
			return ip, ip, "unnamed"
		}
		return name, name, ip
	}
	return ip, ip, ""
}

// Topology builds Node Graph frames from the merged top edges (source -> destination).
func Topology(m federation.TopMerged, by string, n Notices) data.Frames {
	nodes := map[string]*graphNode{}
	node := func(id, title, subtitle string) *graphNode {
		g := nodes[id]
		if g == nil {
			g = &graphNode{id: id, title: title, subtitle: subtitle}
			nodes[id] = g
		}
		return g
	}
	var edgeID, edgeSrc, edgeDst []string
	var edgeMain, edgeFlows, edgeBytes, edgePackets, edgeThickness []float64
	edgeIndex := map[string]int{}
	addEdge := func(sid, did string, r models.TopRow) {
		if i, ok := edgeIndex[sid+"->"+did]; ok {
			edgeMain[i] += r.Value
			edgeFlows[i] += r.Totals.Flows
			edgeBytes[i] += r.Totals.Bytes
			edgePackets[i] += r.Totals.Packets
			return
		}
		edgeIndex[sid+"->"+did] = len(edgeID)
		edgeID = append(edgeID, sid+"->"+did)
		edgeSrc = append(edgeSrc, sid)
		edgeDst = append(edgeDst, did)
		edgeMain = append(edgeMain, r.Value)
		edgeFlows = append(edgeFlows, r.Totals.Flows)
		edgeBytes = append(edgeBytes, r.Totals.Bytes)
		edgePackets = append(edgePackets, r.Totals.Packets)
	}
	for _, r := range m.Rows {
		sid, stitle, ssub := endpoint(r.Key, "src", by)
		did, dtitle, dsub := endpoint(r.Key, "dst", by)
		node(sid, stitle, ssub).sent += r.Value
		node(did, dtitle, dsub).received += r.Value
		// by peer: a gateway between the two ends (the routing peer is neither) is a hop
		if peer := federation.FormatValue(r.Key["peer_name"]); by == models.TopologyByPeer && peer != "" && peer != sid && peer != did {
			pid := "via " + peer
			hop := node(pid, peer, "routing peer")
			hop.received += r.Value
			hop.sent += r.Value
			addEdge(sid, pid, r)
			addEdge(pid, did, r)
			continue
		}
		addEdge(sid, did, r)
	}
	maxValue := 0.0
	for _, v := range edgeMain {
		maxValue = math.Max(maxValue, v)
	}
	for _, v := range edgeMain {
		thickness := 1.0
		if maxValue > 0 {
			thickness = 1 + 7*v/maxValue
		}
		edgeThickness = append(edgeThickness, math.Round(thickness*10)/10)
	}
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var nID, nTitle, nSub []string
	var nSent, nRecv, arcSent, arcRecv []float64
	for _, id := range ids {
		g := nodes[id]
		nID, nTitle, nSub = append(nID, g.id), append(nTitle, g.title), append(nSub, g.subtitle)
		nSent, nRecv = append(nSent, g.sent), append(nRecv, g.received)
		total := g.sent + g.received
		s, r := 0.0, 0.0
		if total > 0 {
			s, r = g.sent/total, g.received/total
		}
		arcSent, arcRecv = append(arcSent, s), append(arcRecv, r)
	}
	unit := MetricUnit(m.Metric)
	label := MetricLabel(m.Metric)
	arc := func(name, display, color string, values []float64) *data.Field {
		cfg := config(display, "")
		cfg.Color = map[string]any{"mode": "fixed", "fixedColor": color}
		return data.NewField(name, nil, values).SetConfig(cfg)
	}
	nodeFrame := data.NewFrame("nodes",
		data.NewField("id", nil, nID),
		data.NewField("title", nil, nTitle).SetConfig(config("Endpoint", "")),
		data.NewField("subtitle", nil, nSub).SetConfig(config("Detail", "")),
		data.NewField("mainstat", nil, nSent).SetConfig(config(label+" sent", unit)),
		data.NewField("secondarystat", nil, nRecv).SetConfig(config(label+" received", unit)),
		arc("arc__sent", "Sent", "blue", arcSent),
		arc("arc__received", "Received", "green", arcRecv),
	)
	edgeFrame := data.NewFrame("edges",
		data.NewField("id", nil, edgeID),
		data.NewField("source", nil, edgeSrc),
		data.NewField("target", nil, edgeDst),
		data.NewField("mainstat", nil, edgeMain).SetConfig(config(label, unit)),
		data.NewField("secondarystat", nil, edgeFlows).SetConfig(config("Flows", "short")),
		data.NewField("thickness", nil, edgeThickness),
		data.NewField("detail__bytes", nil, edgeBytes).SetConfig(config("Bytes", "bytes")),
		data.NewField("detail__packets", nil, edgePackets).SetConfig(config("Packets", "short")),
	)
	nodeMeta := &data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph}
	nodeFrame.SetMeta(nodeMeta)
	edgeFrame.SetMeta(&data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph})
	if m.Other.Groups > 0 {
		n.Infos = append(n.Infos, "Topology shows the largest edges only: raise the limit to see more")
	}
	return attach(data.Frames{nodeFrame, edgeFrame}, n, nodeMeta)
}

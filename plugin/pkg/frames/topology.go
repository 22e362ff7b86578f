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
	if by == models.TopologyByName {
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
	// By name, several address pairs can join the same two endpoints: one edge each.
	type edge struct {
		id, src, dst string
		value        float64
		totals       models.Totals
	}
	edges := map[string]*edge{}
	var order []*edge
	for _, r := range m.Rows {
		sid, stitle, ssub := endpoint(r.Key, "src", by)
		did, dtitle, dsub := endpoint(r.Key, "dst", by)
		node(sid, stitle, ssub).sent += r.Value
		node(did, dtitle, dsub).received += r.Value
		id := sid + "->" + did
		e := edges[id]
		if e == nil {
			e = &edge{id: id, src: sid, dst: did}
			edges[id] = e
			order = append(order, e)
		}
		e.value += r.Value
		e.totals.Add(r.Totals)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].value > order[j].value })
	maxValue := 0.0
	for _, e := range order {
		maxValue = math.Max(maxValue, e.value)
	}
	var edgeID, edgeSrc, edgeDst, edgeMain, edgeFlows, edgeBytes, edgePackets []string
	var edgeThickness []float64
	for _, e := range order {
		edgeID, edgeSrc, edgeDst = append(edgeID, e.id), append(edgeSrc, e.src), append(edgeDst, e.dst)
		edgeMain = append(edgeMain, FormatMetric(m.Metric, e.value))
		edgeFlows = append(edgeFlows, FormatMetric("flows", e.totals.Flows))
		edgeBytes = append(edgeBytes, FormatBytes(e.totals.Bytes))
		edgePackets = append(edgePackets, FormatMetric("packets", e.totals.Packets))
		thickness := 1.0
		if maxValue > 0 {
			thickness = 1 + 7*e.value/maxValue
		}
		edgeThickness = append(edgeThickness, math.Round(thickness*10)/10)
	}
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var nID, nTitle, nSub, nSent, nRecv []string
	var arcSent, arcRecv []float64
	for _, id := range ids {
		g := nodes[id]
		nID, nTitle, nSub = append(nID, g.id), append(nTitle, g.title), append(nSub, g.subtitle)
		nSent = append(nSent, FormatMetric(m.Metric, g.sent)+" sent")
		nRecv = append(nRecv, FormatMetric(m.Metric, g.received)+" recv")
		total := g.sent + g.received
		s, r := 0.0, 0.0
		if total > 0 {
			s, r = g.sent/total, g.received/total
		}
		arcSent, arcRecv = append(arcSent, s), append(arcRecv, r)
	}
	label := MetricLabel(m.Metric)
	arc := func(name, display, color string, values []float64) *data.Field {
		cfg := config(display, "")
		cfg.Color = map[string]any{"mode": "fixed", "fixedColor": color}
		return data.NewField(name, nil, values).SetConfig(cfg)
	}
	// Stats and details are text (see format.go): the panel prints numbers unformatted.
	nodeFrame := data.NewFrame("nodes",
		data.NewField("id", nil, nID),
		data.NewField("title", nil, nTitle).SetConfig(config("Endpoint", "")),
		data.NewField("subtitle", nil, nSub).SetConfig(config("Detail", "")),
		data.NewField("mainstat", nil, nSent).SetConfig(config(label+" sent", "")),
		data.NewField("secondarystat", nil, nRecv).SetConfig(config(label+" received", "")),
		arc("arc__sent", "Sent", "blue", arcSent),
		arc("arc__received", "Received", "green", arcRecv),
	)
	edgeFrame := data.NewFrame("edges",
		data.NewField("id", nil, edgeID),
		data.NewField("source", nil, edgeSrc),
		data.NewField("target", nil, edgeDst),
		data.NewField("mainstat", nil, edgeMain).SetConfig(config(label, "")),
		data.NewField("secondarystat", nil, edgeFlows).SetConfig(config("Connections", "")),
		data.NewField("thickness", nil, edgeThickness),
		data.NewField("detail__bytes", nil, edgeBytes).SetConfig(config("Bytes", "")),
		data.NewField("detail__packets", nil, edgePackets).SetConfig(config("Packets", "")),
		data.NewField("detail__flows", nil, edgeFlows).SetConfig(config("Connections", "")),
	)
	nodeMeta := &data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph}
	nodeFrame.SetMeta(nodeMeta)
	edgeFrame.SetMeta(&data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph})
	if m.Other.Groups > 0 {
		n.Infos = append(n.Infos, "Topology shows the largest edges only: raise the limit to see more")
	}
	return attach(data.Frames{nodeFrame, edgeFrame}, n, nodeMeta)
}

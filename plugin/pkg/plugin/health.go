package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/discovery"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// AgentHealth is one agent's line in the health check and in GET /resources/agents.
type AgentHealth struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	Status     string `json:"status"` // ok, timeout, connection refused, unreachable, unauthorised, version mismatch, tls, ...
	OK         bool   `json:"ok"`
	Version    string `json:"version,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Message    string `json:"message"`
	// Source and Origin say where the agent came from: static (jsonData.agents), dns (the SRV
	// name) or prometheus (the URL and job); Note is what the source said about it.
	Source string `json:"source,omitempty"`
	Origin string `json:"origin,omitempty"`
	Note   string `json:"note,omitempty"`
}

func (d *Datasource) agentsHealth(ctx context.Context, a *agentsNow) []AgentHealth {
	outcomes := federation.FanOut(ctx, a.fleet.Clients, a.fleet.MaxConcurrency, func(ctx context.Context, c *agentclient.Client) (models.AgentInfo, error) {
		return c.Info(ctx)
	})
	out := make([]AgentHealth, len(outcomes))
	for i, o := range outcomes {
		found := a.snap.Agents[i]
		h := AgentHealth{Name: o.Agent, URL: a.fleet.Clients[i].URL, Source: string(found.Source), Origin: found.Origin, Note: found.Note}
		if o.Err != nil {
			h.Status, h.Message = string(o.Err.Kind), o.Err.Message
			if found.Note != "" {
				h.Message += " (" + found.Note + ")"
			}
		} else {
			h.OK, h.Status = true, "ok"
			h.Version, h.APIVersion = o.Result.Version, o.Result.APIVersion.String()
			h.Message = fmt.Sprintf("ok, agent version %s, api_version %s", orUnknown(h.Version), h.APIVersion)
		}
		out[i] = h
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// label names an agent in the health check; discovered agents say where they came from.
func (h AgentHealth) label() string {
	if h.Source == "" || h.Source == string(discovery.SourceStatic) {
		return h.Name
	}
	return fmt.Sprintf("%s (%s %s)", h.Name, h.Source, h.Origin)
}

// CheckHealth refreshes discovery, then asks every agent's /info concurrently: OK when all
// answer with api_version 1 and every discovery source answered; Error listing the failing
// agents and sources otherwise ("degraded" when some agents work). The message also lists
// what discovery found and from where, and which agents vanished.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.settingsErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.settingsErr.Error()}, nil
	}
	if d.discoverer.Enabled() {
		d.discoverer.Refresh(ctx)
	}
	a, err := d.current(ctx)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error()}, nil
	}
	agents := d.agentsHealth(ctx, a)
	var lines, failing []string
	for _, h := range agents {
		mark := "OK"
		if !h.OK {
			mark = "FAIL"
			failing = append(failing, h.label()+" ("+h.Message+")")
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", mark, h.label(), h.Message))
	}
	sort.Strings(failing)
	found, sourcesFailing := discoverySummary(a.snap)
	lines = append(lines, found...)
	details := writeJSON(map[string]any{"agents": agents, "vanished": a.snap.Vanished, "discovery": a.snap.Sources,
		"conflicts": a.snap.Conflicts, "verboseMessage": strings.Join(lines, "\n")})
	res := &backend.CheckHealthResult{JSONDetails: details, Status: backend.HealthStatusError}
	switch {
	case len(agents) == 0:
		res.Message = "No agents: none configured and discovery found none. "
	case len(failing) == 0:
		res.Message = fmt.Sprintf("All %d agents OK. %s. ", len(agents), strings.Join(lines[:len(agents)], "; "))
		if len(sourcesFailing) == 0 {
			res.Status = backend.HealthStatusOk
		}
	case len(failing) == len(agents):
		res.Message = fmt.Sprintf("All %d agents failing: %s. ", len(agents), strings.Join(failing, "; "))
	default:
		res.Message = fmt.Sprintf("Degraded: %d of %d agents failing: %s. Queries return the other agents' data with a warning. ", len(failing), len(agents), strings.Join(failing, "; "))
	}
	res.Message += strings.Join(found, " ")
	res.Message = strings.TrimSpace(res.Message)
	return res, nil
}

// discoverySummary describes each source (what it found, or why it failed), the vanished
// agents and naming conflicts; failing lists the sources whose last refresh failed.
func discoverySummary(snap discovery.Snapshot) (lines, failing []string) {
	for _, s := range snap.Sources {
		if s.Err != "" {
			line := fmt.Sprintf("Discovery %s %s FAILED: %s (still using the %d agents of its last good answer).", s.Source, s.Origin, s.Err, s.Found)
			lines = append(lines, line)
			failing = append(failing, line)
			continue
		}
		lines = append(lines, fmt.Sprintf("Discovery %s %s found %d agents.", s.Source, s.Origin, s.Found))
	}
	for _, v := range snap.Vanished {
		lines = append(lines, fmt.Sprintf("Vanished: %s, no longer found by %s %s since %s.", v.Name, v.Source, v.Origin, v.Since.UTC().Format(time.RFC3339)))
	}
	for _, c := range snap.Conflicts {
		lines = append(lines, "Name conflict: "+c+".")
	}
	return lines, failing
}

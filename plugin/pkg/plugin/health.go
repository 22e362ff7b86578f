package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// AgentHealth is one agent's line in the health check and in GET /resources/agents.
type AgentHealth struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	Status     string `json:"status"` // ok, timeout, connection refused, unreachable, unauthorised, version mismatch, ...
	OK         bool   `json:"ok"`
	Version    string `json:"version,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Message    string `json:"message"`
}

func (d *Datasource) agentsHealth(ctx context.Context) []AgentHealth {
	outcomes := federation.FanOut(ctx, d.fleet.Clients, d.fleet.MaxConcurrency, func(ctx context.Context, c *agentclient.Client) (models.AgentInfo, error) {
		return c.Info(ctx)
	})
	out := make([]AgentHealth, len(outcomes))
	for i, o := range outcomes {
		h := AgentHealth{Name: o.Agent, URL: d.fleet.Clients[i].URL}
		if o.Err != nil {
			h.Status, h.Message = string(o.Err.Kind), o.Err.Message
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

// CheckHealth asks every agent's /info concurrently: OK when all answer with
// api_version 1, Error listing the failing agents otherwise ("degraded" when some work).
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.settingsErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.settingsErr.Error()}, nil
	}
	agents := d.agentsHealth(ctx)
	var lines, failing []string
	for _, a := range agents {
		mark := "OK"
		if !a.OK {
			mark = "FAIL"
			failing = append(failing, a.Name+" ("+a.Message+")")
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", mark, a.Name, a.Message))
	}
	sort.Strings(failing)
	details := writeJSON(map[string]any{"agents": agents, "verboseMessage": strings.Join(lines, "\n")})
	res := &backend.CheckHealthResult{JSONDetails: details}
	switch {
	case len(failing) == 0:
		res.Status = backend.HealthStatusOk
		res.Message = fmt.Sprintf("All %d agents OK. %s", len(agents), strings.Join(lines, "; "))
	case len(failing) == len(agents):
		res.Status = backend.HealthStatusError
		res.Message = fmt.Sprintf("All %d agents failing: %s", len(agents), strings.Join(failing, "; "))
	default:
		res.Status = backend.HealthStatusError
		res.Message = fmt.Sprintf("Degraded: %d of %d agents failing: %s. Queries return the other agents' data with a warning.", len(failing), len(agents), strings.Join(failing, "; "))
	}
	return res, nil
}

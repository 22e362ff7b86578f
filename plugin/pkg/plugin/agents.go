package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/discovery"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

// agentsNow is the agents a call works with: discovery's snapshot, the settings whose agent
// list is that snapshot's, and their fleet of clients.
type agentsNow struct {
	snap     discovery.Snapshot
	settings *models.Settings
	fleet    *federation.Fleet
}

// agentsCache keeps the fleet of the latest discovery generation, so clients (and their
// connections) are rebuilt only when the set of agents changes.
type agentsCache struct {
	mu         sync.Mutex
	generation uint64
	settings   *models.Settings
	fleet      *federation.Fleet
}

// current returns the agents to ask now (waiting for discovery's first answer, within ctx).
func (d *Datasource) current(ctx context.Context) (*agentsNow, error) {
	snap := d.discoverer.Current(ctx)
	c := &d.agents
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fleet == nil || c.generation != snap.Generation {
		settings := d.settings.WithAgents(snap.Configs())
		fleet, err := federation.NewFleet(settings, d.transports)
		if err != nil {
			return nil, err
		}
		c.generation, c.settings, c.fleet = snap.Generation, settings, fleet
	}
	return &agentsNow{snap: snap, settings: c.settings, fleet: c.fleet}, nil
}

// prometheusClient asks the discovery Prometheus with the data source's TLS trust (its CA,
// skip verification); it also validates the CA certificate once at start.
func prometheusClient(s *models.Settings, pool *agentclient.TransportPool) (*http.Client, error) {
	transport, err := pool.Get(agentclient.TransportOptions{SkipVerify: s.TLSSkipVerify, CAPEM: s.TLSCACert})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: transport, Timeout: discovery.SourceTimeout}, nil
}

// withoutVanished takes agents that vanished from discovery out of a query's agent selection
// and says so, instead of failing the query on an unknown agent. The selection is expanded the
// way the query planner expands it (multi-value variables, $__all), against the current agents
// plus the vanished ones. remaining is false when every selected agent vanished.
func withoutVanished(raw json.RawMessage, qc query.Context, a *agentsNow) (out json.RawMessage, notices []string, remaining bool) {
	if len(a.snap.Vanished) == 0 {
		return raw, nil, true
	}
	known := a.snap.Configs()
	for _, v := range a.snap.Vanished {
		known = append(known, v.AgentConfig)
	}
	plan, err := query.Parse(raw, qc, a.settings.WithAgents(known))
	if err != nil {
		return raw, nil, true // the real parse reports it
	}
	var keep []string
	for _, name := range plan.Agents {
		if v, gone := a.snap.VanishedNamed(name); gone {
			notices = append(notices, vanishedNotice(v))
		} else {
			keep = append(keep, name)
		}
	}
	if len(notices) == 0 {
		return raw, nil, true
	}
	if len(keep) == 0 {
		return raw, notices, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return raw, notices, true
	}
	fields["agents"], _ = json.Marshal(keep)
	out, _ = json.Marshal(fields)
	return out, notices, true
}

func vanishedNotice(v discovery.Vanished) string {
	return fmt.Sprintf("Agent %s is no longer found by discovery (%s %s) since %s; its data is not in this result.",
		v.Name, v.Source, v.Origin, v.Since.UTC().Format(time.RFC3339))
}

// discoveryNotices says which discovery sources failed at their last refresh (their last
// good answer is still used).
func discoveryNotices(snap discovery.Snapshot) []string {
	var out []string
	for _, s := range snap.Sources {
		if s.Err != "" {
			out = append(out, fmt.Sprintf("Discovery %s %s failed at %s: %s; using the %d agents of its last good answer.",
				s.Source, s.Origin, s.Refreshed.UTC().Format(time.RFC3339), s.Err, s.Found))
		}
	}
	return out
}

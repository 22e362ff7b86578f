package federation

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Fleet is the set of agents one data source instance asks right now: the configured ones
// plus those discovery found (s.Agents of the settings it was built from).
type Fleet struct {
	Clients        []*agentclient.Client
	MaxConcurrency int
	RowBudget      int64
	// QueryMemory bounds the agent replies of one query, all agents together (bytes).
	QueryMemory int64
}

// NewFleet builds a client for every agent of s. Transports come from pool, so agents reached
// the same way (TLS trust, resolver) share connections, and a fleet rebuilt after a discovery
// refresh keeps them open.
func NewFleet(s *models.Settings, pool *agentclient.TransportPool) (*Fleet, error) {
	f := &Fleet{MaxConcurrency: s.MaxConcurrency, RowBudget: s.RowBudget, QueryMemory: s.MaxQueryMemoryMB << 20}
	timeout := time.Duration(s.TimeoutMs) * time.Millisecond
	for _, a := range s.Agents {
		transport, err := transportFor(s, a, pool)
		if err != nil {
			return nil, err
		}
		f.Clients = append(f.Clients, agentclient.New(a, s.TokenFor(a.Name), timeout, transport))
	}
	return f, nil
}

// transportFor applies the data source's TLS settings, the agent's pinned certificate and its
// resolver. A pinned agent behind a plain http:// URL is refused rather than asked unprotected.
func transportFor(s *models.Settings, a models.AgentConfig, pool *agentclient.TransportPool) (http.RoundTripper, error) {
	pin := s.PinFor(a.Name)
	if pin != nil && strings.HasPrefix(strings.ToLower(a.URL), "http://") {
		return agentclient.Refusing{Err: agentclient.ErrPinnedPlainHTTP}, nil
	}
	return pool.Get(agentclient.TransportOptions{SkipVerify: s.TLSSkipVerify, CAPEM: s.TLSCACert, Pin: pin, Resolver: a.Resolver})
}

// Select returns the clients of the named agents for one query, in configuration order,
// each with an equal share of the query's memory bound for replies (QueryMemory): a query
// asks only the clients Select gave it, so whatever it asks, of however many agents, stays
// within the bound, and an agent flooding its share leaves the others theirs.
func (f *Fleet) Select(names []string) ([]*agentclient.Client, error) {
	var out []*agentclient.Client
	for _, c := range f.Clients {
		if models.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("agents %v: not all are configured", names)
	}
	for i, share := range agentclient.NewShares(f.QueryMemory, len(out)) {
		out[i] = out[i].WithBudget(share)
	}
	return out, nil
}

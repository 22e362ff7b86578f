package federation

import (
	"fmt"
	"net/http"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Fleet is the set of configured agents of one data source instance.
type Fleet struct {
	Clients        []*agentclient.Client
	MaxConcurrency int
	RowBudget      int64
	// QueryMemory bounds the agent replies of one query, all agents together (bytes).
	QueryMemory int64
	transport   *http.Transport
}

// NewFleet builds clients for every configured agent, sharing one transport.
func NewFleet(s *models.Settings) (*Fleet, error) {
	transport, err := agentclient.NewTransport(s.TLSSkipVerify, s.TLSCACert, s.MaxConcurrency)
	if err != nil {
		return nil, err
	}
	f := &Fleet{MaxConcurrency: s.MaxConcurrency, RowBudget: s.RowBudget, QueryMemory: s.MaxQueryMemoryMB << 20, transport: transport}
	timeout := time.Duration(s.TimeoutMs) * time.Millisecond
	for _, a := range s.Agents {
		f.Clients = append(f.Clients, agentclient.New(a, s.Tokens[a.Name], timeout, transport))
	}
	return f, nil
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

// Close releases idle connections.
func (f *Fleet) Close() {
	if f.transport != nil {
		f.transport.CloseIdleConnections()
	}
}

// Package federation asks several agents the same question and merges their answers
// exactly: concurrent fan-out with a per-agent timeout and a concurrency cap, then merges
// per query kind (flows merge-sort with a composite cursor, top over the union of all
// groups, time series summed per bucket and series, summary sums, topology) and the
// connection dedupe that counts a connection reported by several agents once. Plain Go:
// no Grafana types, so every rule is tested directly.
package federation

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
)

// Outcome is one agent's answer or failure.
type Outcome[T any] struct {
	Agent  string
	Result T
	Err    *agentclient.Error
}

// FanOut calls fn for every client concurrently, at most maxConcurrency at a time, and
// returns one outcome per client in the clients' order. Panics in fn become failures.
func FanOut[T any](ctx context.Context, clients []*agentclient.Client, maxConcurrency int, fn func(context.Context, *agentclient.Client) (T, error)) []Outcome[T] {
	if maxConcurrency < 1 {
		maxConcurrency = 1
	}
	outcomes := make([]Outcome[T], len(clients))
	slots := make(chan struct{}, maxConcurrency)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i].Agent = c.Name
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				outcomes[i].Err = &agentclient.Error{Agent: c.Name, Kind: agentclient.KindCancelled, Message: "not asked: request cancelled while waiting for a concurrency slot", Err: ctx.Err()}
				return
			}
			defer func() { <-slots }()
			defer func() {
				if p := recover(); p != nil {
					outcomes[i].Err = &agentclient.Error{Agent: c.Name, Kind: agentclient.KindInternal, Message: fmt.Sprintf("internal error handling the reply: %v", p)}
				}
			}()
			res, err := fn(ctx, c)
			if err != nil {
				outcomes[i].Err = agentclient.AsError(c.Name, err)
				return
			}
			outcomes[i].Result = res
		}()
	}
	wg.Wait()
	return outcomes
}

// AgentResult is one agent's successful answer, as the merges take it.
type AgentResult[T any] struct {
	Agent  string
	Result T
}

// Split separates successes from failures, keeping order.
func Split[T any](outcomes []Outcome[T]) (ok []AgentResult[T], failed []*agentclient.Error) {
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, o.Err)
		} else {
			ok = append(ok, AgentResult[T]{Agent: o.Agent, Result: o.Result})
		}
	}
	return ok, failed
}

// DescribeFailures renders failures as "agent a: timeout after 10000ms; agent b: ...",
// sorted by agent name so messages are stable.
func DescribeFailures(failed []*agentclient.Error) string {
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = f.Error()
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// MissingAgentsNotice is the warning shown on frames when some agents did not answer.
func MissingAgentsNotice(failed []*agentclient.Error, total int) string {
	names := make([]string, len(failed))
	for i, f := range failed {
		names[i] = f.Agent
	}
	sort.Strings(names)
	return fmt.Sprintf("Partial data: %d of %d agents missing (%s). %s", len(failed), total, strings.Join(names, ", "), DescribeFailures(failed))
}

// Package discovery finds the agents a data source asks: the configured list, the targets of
// DNS SRV records, and the targets of the Prometheus job that already scrapes the agents. It
// refreshes on its own every interval. A source that fails keeps the agents of its last good
// answer (and says so); an agent that disappears from its source is remembered as vanished
// for VanishedRetention, so queries that name it get a notice instead of an error. Plain Go:
// the plugin package turns snapshots into settings, fleets, notices and the health check.
package discovery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Source says where an agent came from.
type Source string

// Sources, in order of precedence when two of them name the same agent.
const (
	SourceStatic     Source = "static"
	SourceDNS        Source = "dns"
	SourcePrometheus Source = "prometheus"
)

// VanishedRetention is how long an agent that disappeared is reported as vanished.
const VanishedRetention = 24 * time.Hour

// SourceTimeout bounds one source's lookup in a refresh.
const SourceTimeout = 10 * time.Second

// Agent is one agent found, with where it came from.
type Agent struct {
	models.AgentConfig
	Source Source `json:"source"`
	// Origin is what was asked: the SRV name, or the Prometheus URL and job.
	Origin string `json:"origin"`
	// Note is what the source says about the agent (Prometheus: the target is down).
	Note string `json:"note,omitempty"`
}

// Describe names the agent with its origin: `gw (dns _flowmesh._tcp.mesh.example.)`.
func (a Agent) Describe() string {
	if a.Source == SourceStatic {
		return a.Name + " (configured)"
	}
	return fmt.Sprintf("%s (%s %s)", a.Name, a.Source, a.Origin)
}

// Vanished is an agent a source listed before and no longer lists.
type Vanished struct {
	Agent
	Since time.Time `json:"since"`
}

// SourceStatus is one source's latest refresh.
type SourceStatus struct {
	Source Source `json:"source"`
	Origin string `json:"origin"`
	Found  int    `json:"found"`
	// Err is the latest refresh's failure; Found then counts the agents of its last good answer.
	Err       string    `json:"error,omitempty"`
	Refreshed time.Time `json:"refreshed"`
}

// Snapshot is what discovery knows at one moment.
type Snapshot struct {
	// Generation changes whenever the set of agents (names, URLs, resolvers) changes.
	Generation uint64
	Agents     []Agent
	Vanished   []Vanished
	Sources    []SourceStatus
	// Conflicts lists agents two sources named differently (the first source wins).
	Conflicts []string
}

// Configs returns the agents as the settings' agent list.
func (s Snapshot) Configs() []models.AgentConfig {
	out := make([]models.AgentConfig, len(s.Agents))
	for i, a := range s.Agents {
		out[i] = a.AgentConfig
	}
	return out
}

// VanishedNamed returns the vanished agent called name.
func (s Snapshot) VanishedNamed(name string) (Vanished, bool) {
	for _, v := range s.Vanished {
		if v.Name == name {
			return v, true
		}
	}
	return Vanished{}, false
}

// finder is one discovery source.
type finder interface {
	source() Source
	origin() string
	find(ctx context.Context) ([]Agent, error)
}

// Discoverer keeps the current snapshot, refreshing it every interval in the background.
type Discoverer struct {
	static   []Agent
	finders  []finder
	interval time.Duration
	now      func() time.Time

	refreshing sync.Mutex // one refresh at a time
	mu         sync.Mutex
	snap       Snapshot
	lastGood   [][]Agent // per finder
	lastKey    string
	ready      chan struct{}
	readyOnce  sync.Once
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// New builds the discoverer of a data source's settings; prometheusClient asks Prometheus
// (with the data source's TLS settings). Without discovery sources it only
// ever holds the configured agents and needs no refresh.
func New(s *models.Settings, prometheusClient *http.Client) *Discoverer {
	d := &Discoverer{
		interval: time.Duration(s.Discovery.RefreshIntervalS) * time.Second,
		now:      time.Now,
		ready:    make(chan struct{}),
		stop:     make(chan struct{}),
	}
	for _, a := range s.Agents {
		d.static = append(d.static, Agent{AgentConfig: a, Source: SourceStatic, Origin: "jsonData.agents"})
	}
	if dns := s.Discovery.DNS; len(dns.Names) > 0 {
		d.finders = append(d.finders, newDNSFinder(dns))
	}
	if p := s.Discovery.Prometheus; p.URL != "" {
		d.finders = append(d.finders, newPrometheusFinder(p, prometheusClient))
	}
	d.lastGood = make([][]Agent, len(d.finders))
	d.snap = d.merge(nil, nil)
	if len(d.finders) == 0 {
		d.markReady()
	}
	return d
}

// Enabled reports whether any source besides the configured list exists.
func (d *Discoverer) Enabled() bool { return len(d.finders) > 0 }

// Start refreshes now and then every interval until Close.
func (d *Discoverer) Start() {
	if !d.Enabled() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		<-d.stop
		cancel() // ends a refresh in progress
	}()
	go func() {
		defer d.wg.Done()
		ticker := time.NewTicker(d.interval)
		defer ticker.Stop()
		for {
			d.Refresh(ctx)
			select {
			case <-d.stop:
				return
			case <-ticker.C:
			}
		}
	}()
}

// Close stops the background refresh and waits for it.
func (d *Discoverer) Close() {
	d.stopOnce.Do(func() { close(d.stop) })
	d.wg.Wait()
}

// Current returns the snapshot, waiting for the first refresh unless ctx ends first (then the
// configured agents are all there is).
func (d *Discoverer) Current(ctx context.Context) Snapshot {
	select {
	case <-d.ready:
	case <-ctx.Done():
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snap
}

// Refresh asks every source now and returns the new snapshot.
func (d *Discoverer) Refresh(ctx context.Context) Snapshot {
	d.refreshing.Lock()
	defer d.refreshing.Unlock()
	found := make([][]Agent, len(d.finders))
	errs := make([]error, len(d.finders))
	var wg sync.WaitGroup
	for i, f := range d.finders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, SourceTimeout)
			defer cancel()
			found[i], errs[i] = f.find(fctx)
		}()
	}
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snap = d.merge(found, errs)
	d.markReady()
	return d.snap
}

func (d *Discoverer) markReady() { d.readyOnce.Do(func() { close(d.ready) }) }

// merge combines the configured agents with each source's answer (or its last good one),
// tracks what vanished and numbers the generation. Called with d.mu held (or before use).
func (d *Discoverer) merge(found [][]Agent, errs []error) Snapshot {
	now := d.now()
	next := Snapshot{Generation: d.snap.Generation}
	byName := map[string]Agent{}
	take := func(a Agent) {
		if prev, dup := byName[a.Name]; dup {
			if prev.URL != a.URL {
				next.Conflicts = append(next.Conflicts, fmt.Sprintf("%s: %s found it at %s, %s at %s; using %s",
					a.Name, prev.Source, prev.URL, a.Source, a.URL, prev.Source))
			}
			return
		}
		byName[a.Name] = a
		next.Agents = append(next.Agents, a)
	}
	for _, a := range d.static {
		take(a)
	}
	for i, f := range d.finders {
		status := SourceStatus{Source: f.source(), Origin: f.origin(), Refreshed: now}
		if found != nil {
			if errs[i] != nil {
				status.Err = errs[i].Error()
			} else {
				d.lastGood[i] = found[i]
			}
		}
		status.Found = len(d.lastGood[i])
		for _, a := range d.lastGood[i] {
			take(a)
		}
		next.Sources = append(next.Sources, status)
	}

	// vanished: listed before, not now; forgotten after VanishedRetention or when back
	for _, v := range d.snap.Vanished {
		if _, back := byName[v.Name]; !back && now.Sub(v.Since) < VanishedRetention {
			next.Vanished = append(next.Vanished, v)
		}
	}
	for _, a := range d.snap.Agents {
		if _, still := byName[a.Name]; !still && !slices.ContainsFunc(next.Vanished, func(v Vanished) bool { return v.Name == a.Name }) {
			next.Vanished = append(next.Vanished, Vanished{Agent: a, Since: now})
		}
	}
	sort.Slice(next.Vanished, func(i, j int) bool { return next.Vanished[i].Name < next.Vanished[j].Name })

	key := agentSetKey(next.Agents)
	if key != d.lastKey {
		next.Generation++
		d.lastKey = key
	}
	return next
}

func agentSetKey(agents []Agent) string {
	parts := make([]string, len(agents))
	for i, a := range agents {
		parts[i] = a.Name + "\x00" + a.URL + "\x00" + a.Resolver
	}
	return strings.Join(parts, "\x01")
}

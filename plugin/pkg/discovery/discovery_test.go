package discovery

// The merge, vanish and naming rules, with sources replaced by functions returning fixed
// answers (the real sources, a real Prometheus and dnsmasq, are exercised through the plugin
// executable in plugin/test/contract/discovery_test.go).

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

type answers struct {
	src    Source
	agents []Agent
	err    error
}

func (a *answers) source() Source                        { return a.src }
func (a *answers) origin() string                        { return "test-" + string(a.src) }
func (a *answers) find(context.Context) ([]Agent, error) { return a.agents, a.err }

func found(src Source, name, url string) Agent {
	return Agent{AgentConfig: models.AgentConfig{Name: name, URL: url}, Source: src}
}

func newDiscoverer(static []models.AgentConfig, finders ...finder) (*Discoverer, *time.Time) {
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// a DNS source makes New wait for a first refresh; the test's sources then replace it
	s := &models.Settings{Agents: static, Discovery: models.Discovery{RefreshIntervalS: 60, DNS: models.DNSDiscovery{Names: []string{"_x._tcp.test."}}}}
	d := New(s, nil)
	d.now = func() time.Time { return clock }
	d.finders = finders
	d.lastGood = make([][]Agent, len(finders))
	return d, &clock
}

func names(agents []Agent) string {
	var out []string
	for _, a := range agents {
		out = append(out, a.Name+"="+a.URL+"/"+string(a.Source))
	}
	return strings.Join(out, " ")
}

func TestConfiguredAgentsComeFirstAndWinNameConflicts(t *testing.T) {
	dns := &answers{src: SourceDNS, agents: []Agent{found(SourceDNS, "gw", "http://gw.mesh:9477"), found(SourceDNS, "db", "http://db.mesh:9477")}}
	prom := &answers{src: SourcePrometheus, agents: []Agent{found(SourcePrometheus, "db", "http://10.0.0.2:9477"), found(SourcePrometheus, "web", "http://10.0.0.3:9477")}}
	d, _ := newDiscoverer([]models.AgentConfig{{Name: "gw", URL: "https://10.0.0.1:9477"}}, dns, prom)
	snap := d.Refresh(context.Background())
	want := "gw=https://10.0.0.1:9477/static db=http://db.mesh:9477/dns web=http://10.0.0.3:9477/prometheus"
	if got := names(snap.Agents); got != want {
		t.Fatalf("agents %s, want %s", got, want)
	}
	if len(snap.Conflicts) != 2 || !strings.Contains(snap.Conflicts[1], "db: dns found it at http://db.mesh:9477, prometheus at http://10.0.0.2:9477; using dns") {
		t.Errorf("conflicts %q", snap.Conflicts)
	}
	if len(snap.Sources) != 2 || snap.Sources[0].Found != 2 || snap.Sources[1].Found != 2 {
		t.Errorf("sources %+v", snap.Sources)
	}
}

func TestVanishedAgentsAreRememberedUntilTheyReturnOrExpire(t *testing.T) {
	dns := &answers{src: SourceDNS, agents: []Agent{found(SourceDNS, "a", "http://a:1"), found(SourceDNS, "b", "http://b:1")}}
	d, clock := newDiscoverer(nil, dns)
	first := d.Refresh(context.Background())

	dns.agents = dns.agents[:1]
	*clock = clock.Add(time.Minute)
	second := d.Refresh(context.Background())
	if len(second.Vanished) != 1 || second.Vanished[0].Name != "b" || !second.Vanished[0].Since.Equal(*clock) {
		t.Fatalf("vanished %+v", second.Vanished)
	}
	if second.Generation == first.Generation {
		t.Error("generation did not change with the agent set")
	}
	if v, ok := second.VanishedNamed("b"); !ok || v.URL != "http://b:1" {
		t.Errorf("VanishedNamed: %+v %v", v, ok)
	}

	// still gone an hour later: still reported, with the original time
	*clock = clock.Add(time.Hour)
	third := d.Refresh(context.Background())
	if len(third.Vanished) != 1 || third.Vanished[0].Since.Equal(*clock) || third.Generation != second.Generation {
		t.Errorf("third refresh: %+v generation %d/%d", third.Vanished, third.Generation, second.Generation)
	}
	// forgotten after VanishedRetention
	*clock = clock.Add(VanishedRetention)
	if v := d.Refresh(context.Background()).Vanished; len(v) != 0 {
		t.Errorf("not forgotten: %+v", v)
	}
	// and back when it reappears
	dns.agents = append(dns.agents, found(SourceDNS, "b", "http://b:1"))
	if snap := d.Refresh(context.Background()); len(snap.Vanished) != 0 || len(snap.Agents) != 2 {
		t.Errorf("after return: %+v", snap)
	}
}

func TestAFailingSourceKeepsItsLastGoodAnswer(t *testing.T) {
	prom := &answers{src: SourcePrometheus, agents: []Agent{found(SourcePrometheus, "a", "http://a:1")}}
	d, _ := newDiscoverer(nil, prom)
	d.Refresh(context.Background())
	prom.err, prom.agents = errors.New("connection refused"), nil
	snap := d.Refresh(context.Background())
	if names(snap.Agents) != "a=http://a:1/prometheus" || len(snap.Vanished) != 0 {
		t.Fatalf("agents %s vanished %+v", names(snap.Agents), snap.Vanished)
	}
	if snap.Sources[0].Err != "connection refused" || snap.Sources[0].Found != 1 {
		t.Errorf("source status %+v", snap.Sources[0])
	}
}

func TestCurrentWaitsForTheFirstRefreshWithinTheContext(t *testing.T) {
	d, _ := newDiscoverer([]models.AgentConfig{{Name: "gw", URL: "http://gw:1"}}, &answers{src: SourceDNS})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if snap := d.Current(ctx); names(snap.Agents) != "gw=http://gw:1/static" {
		t.Errorf("before the first refresh: %s", names(snap.Agents))
	}
	d.interval = time.Hour
	d.Start()
	defer d.Close()
	if snap := d.Current(context.Background()); len(snap.Sources) != 1 || snap.Sources[0].Refreshed.IsZero() {
		t.Errorf("after start: %+v", snap.Sources)
	}
}

func TestNamesAreTheShortestUniqueCandidate(t *testing.T) {
	c := func(names ...string) candidate { return candidate{names: names} }
	got := assignNames([]candidate{
		c("gw", "gw.site-a.example", "gw.site-a.example-9477"),
		c("gw", "gw.site-b.example", "gw.site-b.example-9477"),
		c("db", "db.site-a.example", "db.site-a.example-9477"),
		c("web", "web.example", "web.example-9477"),
		c("web", "web.example", "web.example-9478"),
		c("x y/z", "x"),
		c("same"), c("same"),
	})
	var out []string
	for _, a := range got {
		out = append(out, a.Name)
	}
	want := "gw.site-a.example gw.site-b.example db web.example-9477 web.example-9478 x-y-z same same-2"
	if strings.Join(out, " ") != want {
		t.Errorf("names %q, want %q", strings.Join(out, " "), want)
	}
}

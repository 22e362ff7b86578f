package contract

// Agents found, not typed: the built plugin executable, launched as Grafana launches it,
// discovers the harness's real agents from a real Prometheus (Debian's, scraping them on
// loopback) and from SRV records served by dnsmasq in a network namespace; refreshes on its
// own; turns an agent that vanished into a notice; and its health check lists what it found
// and from where.

import (
	"strings"
	"testing"
	"time"
)

func TestDiscoveryFromThePrometheusJobThatScrapesTheAgents(t *testing.T) {
	h := need(t)
	a, b, c := h.Union[0], h.Union[1], h.Union[2]
	prom := startPrometheus(t, h, "flowmesh", []scrapeTarget{{a, a.Name}, {b, b.Name}, {c, c.Name}})
	o := newOracle(t, a, b, c)
	client := launch(t, sharedExecutable(t, h))
	s := settingsFor(nil, map[string]any{"discovery": map[string]any{
		"prometheus": map[string]any{"url": prom.URL, "job": "flowmesh"}, "refreshIntervalS": 5}})
	s.secure = map[string]string{"token": sharedToken, "token." + c.Name: c.Token}

	status, verbose := healthText(t, client, s)
	origin := `prometheus ` + prom.URL + ` job "flowmesh"`
	for _, want := range []string{"OK: All 3 agents OK.", "Discovery " + origin + " found 3 agents."} {
		if !strings.Contains(status, want) {
			t.Errorf("health %q lacks %q", status, want)
		}
	}
	for _, p := range []*agentProc{a, b, c} { // named by the node label; agent-c's own token found by that name
		if want := "OK " + p.Name + " (" + origin + "): ok"; !strings.Contains(verbose, want) {
			t.Errorf("health details lack %q:\n%s", want, verbose)
		}
	}
	if strings.Contains(verbose, "not-an-agent") {
		t.Errorf("a target of another job became an agent:\n%s", verbose)
	}
	if got, notes := summaryBytes(t, client, s, o.tr, map[string]any{}); got != o.total("bytes") || len(notes) != 0 {
		t.Fatalf("summary over discovered agents: %v bytes (union %v), notices %q", got, o.total("bytes"), notes)
	}

	// agent-c leaves the scrape job: it vanishes, which is a notice, not an error
	prom.reload(t, "flowmesh", []scrapeTarget{{a, a.Name}, {b, b.Name}})
	status, _ = healthText(t, client, s)
	if !strings.HasPrefix(status, "OK: All 2 agents OK.") || !strings.Contains(status, "Vanished: agent-c, no longer found by "+origin) {
		t.Errorf("health after agent-c left: %s", status)
	}
	without := newOracle(t, a, b).total("bytes")
	got, notes := summaryBytes(t, client, s, o.tr, map[string]any{})
	if got != without || !strings.Contains(joinNotices(notes), "Agent agent-c is no longer found by discovery ("+origin+") since ") {
		t.Errorf("summary after agent-c left: %v bytes (a+b %v), notices %q", got, without, notes)
	}
	if got, notes := summaryBytes(t, client, s, o.tr, map[string]any{"agents": []string{"agent-c"}}); got != 0 || !strings.Contains(joinNotices(notes), "Agent agent-c is no longer found") {
		t.Errorf("a query naming only the vanished agent: %v bytes, notices %q", got, notes)
	}

	// Prometheus down: the health check says discovery fails; queries keep the agents it listed last
	prom.stop()
	status, _ = healthText(t, client, s)
	if !strings.HasPrefix(status, "ERROR: All 2 agents OK.") || !strings.Contains(status, "Discovery "+origin+" FAILED: prometheus "+prom.URL) ||
		!strings.Contains(status, "still using the 2 agents of its last good answer") {
		t.Errorf("health with Prometheus down: %s", status)
	}
	got, notes = summaryBytes(t, client, s, o.tr, map[string]any{})
	if got != without || !strings.Contains(joinNotices(notes), "Discovery "+origin+" failed at ") {
		t.Errorf("summary with Prometheus down: %v bytes (a+b %v), notices %q", got, without, notes)
	}
}

func TestDiscoveryFromDNSSRVRecordsRefreshesOnItsOwn(t *testing.T) {
	h := need(t)
	ns := newDNSNamespace(t)
	a, b, c := h.Union[0], h.Union[1], h.Union[2]
	const srv = "_flowmesh._tcp.mesh.test."
	ns.serve(t, srv, []*agentProc{a, b, c})
	o := newOracle(t, a, b, c)
	client := launch(t, sharedExecutable(t, h))
	s := settingsFor(nil, map[string]any{"discovery": map[string]any{
		"dns": map[string]any{"names": []string{srv}, "resolver": ns.ServerIP + ":53"}, "refreshIntervalS": 5}})
	s.secure = map[string]string{"token": sharedToken, "token." + c.Name: c.Token}

	status, verbose := healthText(t, client, s)
	origin := "dns " + srv + " @" + ns.ServerIP + ":53"
	if !strings.HasPrefix(status, "OK: All 3 agents OK.") || !strings.Contains(status, "Discovery "+origin+" found 3 agents.") {
		t.Errorf("health: %s", status)
	}
	for _, p := range []*agentProc{a, b, c} { // named by the target's first label; host names resolved by dnsmasq
		if want := "OK " + p.Name + " (" + origin + "): ok"; !strings.Contains(verbose, want) {
			t.Errorf("health details lack %q:\n%s", want, verbose)
		}
	}
	if got, notes := summaryBytes(t, client, s, o.tr, map[string]any{}); got != o.total("bytes") || len(notes) != 0 {
		t.Fatalf("summary over SRV agents: %v bytes (union %v), notices %q", got, o.total("bytes"), notes)
	}

	// agent-b's record goes away; without a health check, the next refresh (5 s) notices
	ns.serve(t, srv, []*agentProc{a, c})
	without := newOracle(t, a, c).total("bytes")
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, notes := summaryBytes(t, client, s, o.tr, map[string]any{})
		if strings.Contains(joinNotices(notes), "Agent agent-b is no longer found by discovery ("+origin+")") {
			if got != without {
				t.Errorf("after agent-b vanished: %v bytes, a+c %v", got, without)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after agent-b's SRV record went away, queries still show no notice (%v bytes, notices %q)", got, notes)
		}
		time.Sleep(time.Second)
	}
}

package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// maxTargetsReply bounds how much of Prometheus's /api/v1/targets answer is read.
const maxTargetsReply = 32 << 20

// prometheusFinder reads the active targets of the Prometheus that scrapes the agents
// (GET /api/v1/targets?state=active) and keeps those of one job: the agent's URL is the
// scheme and host of the target's scrape URL (the agent serves /metrics and its API on the
// same port), its name the target's name label (`node` by default), else its instance's host.
type prometheusFinder struct {
	cfg    models.PrometheusDiscovery
	client *http.Client
}

func newPrometheusFinder(cfg models.PrometheusDiscovery, client *http.Client) *prometheusFinder {
	if client == nil {
		client = http.DefaultClient
	}
	return &prometheusFinder{cfg: cfg, client: client}
}

func (f *prometheusFinder) source() Source { return SourcePrometheus }

func (f *prometheusFinder) origin() string { return fmt.Sprintf("%s job %q", f.cfg.URL, f.cfg.Job) }

// targetsReply is the part of Prometheus's answer discovery reads.
type targetsReply struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ActiveTargets []struct {
			Labels     map[string]string `json:"labels"`
			ScrapePool string            `json:"scrapePool"`
			ScrapeURL  string            `json:"scrapeUrl"`
			Health     string            `json:"health"`
			LastError  string            `json:"lastError"`
		} `json:"activeTargets"`
	} `json:"data"`
}

func (f *prometheusFinder) find(ctx context.Context) ([]Agent, error) {
	endpoint := f.cfg.URL + "/api/v1/targets?state=active"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", f.cfg.URL, err)
	}
	req.Header.Set("Accept", "application/json")
	if f.cfg.User != "" {
		req.SetBasicAuth(f.cfg.User, f.cfg.Password())
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", f.cfg.URL, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTargetsReply))
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: reading /api/v1/targets: %w", f.cfg.URL, err)
	}
	var reply targetsReply
	if jsonErr := json.Unmarshal(body, &reply); jsonErr != nil || resp.StatusCode != http.StatusOK || reply.Status != "success" {
		detail := reply.Error
		if detail == "" {
			detail = snippet(body)
		}
		hint := "is this the Prometheus base URL?"
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = "check discovery.prometheus.user and secureJsonData.prometheusPassword"
		}
		return nil, fmt.Errorf("prometheus %s: /api/v1/targets answered HTTP %d: %s (%s)", f.cfg.URL, resp.StatusCode, detail, hint)
	}
	var cands []candidate
	for _, t := range reply.Data.ActiveTargets {
		if t.Labels["job"] != f.cfg.Job && t.ScrapePool != f.cfg.Job {
			continue
		}
		scrape, err := url.Parse(t.ScrapeURL)
		if err != nil || scrape.Host == "" {
			continue
		}
		instance := t.Labels["instance"]
		if instance == "" {
			instance = scrape.Host
		}
		host := instance
		if h, _, err := net.SplitHostPort(instance); err == nil {
			host = h
		}
		names := []string{host, instance}
		if label := t.Labels[f.cfg.NameLabel]; label != "" {
			names = []string{label, label + "-" + host, label + "-" + instance}
		}
		a := Agent{
			AgentConfig: models.AgentConfig{URL: scrape.Scheme + "://" + scrape.Host},
			Source:      SourcePrometheus,
			Origin:      f.origin(),
		}
		if t.Health == "down" {
			a.Note = "Prometheus reports this target down"
			if t.LastError != "" {
				a.Note += ": " + t.LastError
			}
		}
		cands = append(cands, candidate{names: names, agent: a})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].agent.URL < cands[j].agent.URL })
	return assignNames(cands), nil
}

func unwrapURL(err error) error {
	if u, ok := err.(*url.Error); ok {
		return u.Err
	}
	return err
}

func snippet(body []byte) string {
	s := string(body)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

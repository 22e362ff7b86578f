package main

// The parts of an estimate for agents on separate machines, measured in interleaved runs so
// that every run sees the same load: run i asks the reference agent (one agent holding every
// record) alone, then each agent of the fleet alone, one at a time, then the federated query
// over instant agents (replay.go). A fan-out to separate machines waits at least for its
// slowest agent, and federation adds what it costs with agents that answer at once.

import (
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

// subject is one thing timed in the interleaved runs.
type subject struct {
	m        measurement
	fleet    *federation.Fleet
	settings *models.Settings
	last     *query.Result
}

// ask runs q once and records the time; a failure ends the subject's runs.
func (s *subject) ask(q namedQuery, qc query.Context, timed bool) {
	if s.m.Error != "" {
		return
	}
	d, result, answers, err := askOnce([]*federation.Fleet{s.fleet}, []*models.Settings{s.settings}, q, qc)
	if err != nil {
		s.m.Error = err.Error()
		return
	}
	if timed {
		s.m.Ms = append(s.m.Ms, float64(d.Microseconds())/1000)
	}
	s.last, s.m.Answers = result, answers
}

// measureSeparately measures, run by run, the reference agent alone, each of the agents at
// urls alone and the federated query over instant agents replaying their replies (after
// one untimed warm-up round). The instant agents' measurement carries its merged answer's
// digest, to be checked against the real agents'.
func measureSeparately(reference string, urls []string, token string, q namedQuery, qc query.Context, runs int) []measurement {
	n := len(urls)
	var subjects []*subject
	add := func(mode string, agent int, agentURLs []string) *subject {
		fleet, settings := fleetOf(agentURLs, token)
		s := &subject{m: measurement{Query: q.Name, Agents: n, Mode: mode, Agent: agent}, fleet: fleet, settings: settings}
		subjects = append(subjects, s)
		return s
	}
	add(modeReference, 0, []string{reference})
	for i, u := range urls {
		add(modeAlone, i+1, []string{u})
	}
	instant := &subject{m: measurement{Query: q.Name, Agents: n, Mode: modeInstant}}
	fleet, settings, stop, err := instantFleet(urls, token, q, qc)
	if err != nil {
		instant.m.Error = err.Error()
	} else {
		defer stop()
		instant.fleet, instant.settings = fleet, settings
	}
	subjects = append(subjects, instant)
	deadline := time.Now().Add(10 * time.Minute)
	for run := 0; run <= runs && time.Now().Before(deadline); run++ {
		for _, s := range subjects {
			s.ask(q, qc, run > 0)
		}
	}
	if instant.last != nil {
		instant.m.Digest = digestOf(instant.last)
	}
	var out []measurement
	for _, s := range subjects {
		if s.m.Error == "" && len(s.m.Ms) > 0 {
			summarise(&s.m)
		}
		out = append(out, s.m)
	}
	return out
}

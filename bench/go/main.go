// Command fedbench measures the plugin backend's federation (plugin/pkg/query: plan, fan-out,
// exact merges) against running agents: the same plugin queries over the first 1, 4, 8...
// agents, several runs each, latency per query and agent count printed as one JSON document.
// It is the bench's driver for H5's code, imported as a library, not a copy of it. Each
// measurement also carries a digest of its merged answer (top rows, time-series sums, flow
// ids of the page), so the bench can check that agents holding shares of the data answer
// exactly what one agent holding all of it answers.
//
// With -reference, the parts of an estimate for agents on separate machines are measured too
// (separate.go): co-located agents queue up for shared cores, so the agents' query work is
// taken out of federation's own cost.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

type namedQuery struct {
	Name  string          `json:"name"`
	Query json.RawMessage `json:"query"`
}

// How a measurement asks the agents.
const (
	// modeFederated: one federated query over all the agents.
	modeFederated = "federated"
	// modeOneAtATime: the same query asked of each agent alone, one after the other (the
	// no-fan-out cost of reaching every agent), timed together.
	modeOneAtATime = "one at a time"
	// modeAlone: one agent asked alone, nothing else running (Agent says which).
	modeAlone = "alone"
	// modeInstant: one federated query over servers replaying the agents' recorded replies
	// immediately: fan-out, HTTP, decoding and merging with no agent work.
	modeInstant = "instant agents"
	// modeReference: the agent holding every record asked alone, in the same interleaved
	// runs as modeAlone and modeInstant.
	modeReference = "reference"
)

type measurement struct {
	Query  string `json:"query"`
	Agents int    `json:"agents"`
	Mode   string `json:"mode"`
	// Agent is the agent asked (1-based) when Mode is modeAlone.
	Agent   int       `json:"agent,omitempty"`
	Ms      []float64 `json:"ms"`
	Median  float64   `json:"median_ms"`
	P95     float64   `json:"p95_ms"`
	Min     float64   `json:"min_ms"`
	Max     float64   `json:"max_ms"`
	Answers int       `json:"answers"`
	Digest  *digest   `json:"digest,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// digest is what must not change when the same records are spread over more agents.
type digest struct {
	// Top: "key=value" of the ranked rows, in rank order, and the total over all groups.
	TopRows  []string `json:"top_rows,omitempty"`
	TopTotal float64  `json:"top_total,omitempty"`
	// Timeseries: the bucket times and, per bucket, the sum over all series.
	Times      []int64   `json:"times,omitempty"`
	BucketSums []float64 `json:"bucket_sums,omitempty"`
	// Flows page: "flow_id/seq" of its records, sorted (the page's set, not its tie order).
	Flows []string `json:"flows,omitempty"`
}

func digestOf(r *query.Result) *digest {
	d := &digest{}
	switch {
	case r.Top != nil:
		for _, row := range r.Top.Rows {
			key, _ := json.Marshal(row.Key)
			d.TopRows = append(d.TopRows, fmt.Sprintf("%s=%v", key, row.Value))
		}
		d.TopTotal = r.Top.Total.Bytes
	case r.Series != nil:
		d.Times = r.Series.Times
		d.BucketSums = make([]float64, len(r.Series.Times))
		for _, s := range r.Series.Series {
			for i, v := range s.Values {
				if i < len(d.BucketSums) {
					d.BucketSums[i] += v
				}
			}
		}
	case r.Flows != nil:
		for _, f := range r.Flows.Records {
			d.Flows = append(d.Flows, fmt.Sprintf("%s/%d", f.FlowID, f.Seq))
		}
		sort.Strings(d.Flows)
	}
	return d
}

func main() {
	urls := flag.String("agents", "", "comma-separated agent base URLs (agent-1 first)")
	token := flag.String("token", "", "bearer token shared by the agents")
	counts := flag.String("counts", "1,4,8", "agent counts to measure")
	from := flag.Int64("from", 0, "range start, epoch ms")
	to := flag.Int64("to", 0, "range end, epoch ms")
	runs := flag.Int("runs", 15, "runs per query and agent count (after one warm-up)")
	queries := flag.String("queries", "", "JSON array of {name, query} plugin queries")
	reference := flag.String("reference", "", "URL of an agent holding every record: also measure, run by run, it alone, each agent alone and the federated query over instant agents")
	flag.Parse()

	var list []namedQuery
	if err := json.Unmarshal([]byte(*queries), &list); err != nil {
		fail("queries: %v", err)
	}
	all := strings.Split(*urls, ",")
	var out []measurement
	singles := make([]*federation.Fleet, len(all))
	singleSettings := make([]*models.Settings, len(all))
	for i, u := range all {
		singles[i], singleSettings[i] = fleetOf([]string{u}, *token)
	}
	for _, c := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > len(all) {
			fail("counts: %q is not between 1 and %d", c, len(all))
		}
		fleet, settings := fleetOf(all[:n], *token)
		for _, q := range list {
			out = append(out, measure([]*federation.Fleet{fleet}, []*models.Settings{settings}, q, n, *from, *to, *runs))
			if n > 1 {
				m := measure(singles[:n], singleSettings[:n], q, n, *from, *to, *runs)
				m.Mode = modeOneAtATime
				out = append(out, m)
			}
			if *reference != "" {
				out = append(out, measureSeparately(*reference, all[:n], *token, q, queryContext(*from, *to), *runs)...)
			}
		}
	}
	transports.Close()
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("output: %v", err)
	}
}

// transports are shared by every fleet of the run, as one data source's fleets share them in
// the plugin (rebuilt fleets keep their connections).
var transports = agentclient.NewTransportPool(16)

func fleetOf(urls []string, token string) (*federation.Fleet, *models.Settings) {
	type agentJSON struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	var agents []agentJSON
	for i, u := range urls {
		agents = append(agents, agentJSON{Name: fmt.Sprintf("agent-%d", i+1), URL: u})
	}
	jsonData, _ := json.Marshal(map[string]any{"agents": agents, "timeoutMs": 120000, "maxConcurrency": 16})
	settings, err := models.LoadSettings(jsonData, map[string]string{"token": token})
	if err != nil {
		fail("settings: %v", err)
	}
	fleet, err := federation.NewFleet(&settings, transports)
	if err != nil {
		fail("fleet: %v", err)
	}
	return fleet, &settings
}

// measure times one plugin query run through each fleet in turn (one fleet: a federated
// query; several single-agent fleets: the agents asked one at a time).
func measure(fleets []*federation.Fleet, settings []*models.Settings, q namedQuery, n int, from, to int64, runs int) measurement {
	m := measurement{Query: q.Name, Agents: n, Mode: modeFederated}
	var last *query.Result // the merged answer of the latest run (the federated case has one fleet)
	qc := queryContext(from, to)
	if _, _, _, err := askOnce(fleets, settings, q, qc); err != nil {
		m.Error = err.Error()
		return m
	}
	for i := 0; i < runs; i++ {
		d, result, answers, err := askOnce(fleets, settings, q, qc)
		if err != nil {
			m.Error = err.Error()
			return m
		}
		m.Ms = append(m.Ms, float64(d.Microseconds())/1000)
		last, m.Answers = result, answers
	}
	if len(fleets) == 1 {
		m.Digest = digestOf(last)
	}
	summarise(&m)
	return m
}

// askOnce runs q once through each fleet in turn: the time taken, the last merged answer and
// how many agents answered.
func askOnce(fleets []*federation.Fleet, settings []*models.Settings, q namedQuery, qc query.Context) (time.Duration, *query.Result, int, error) {
	started := time.Now()
	var last *query.Result
	answers := 0
	for i, fleet := range fleets {
		plan, err := query.Parse(q.Query, qc, settings[i])
		if err != nil {
			return 0, nil, 0, err
		}
		result, err := query.Run(context.Background(), fleet, plan)
		if err != nil {
			return 0, nil, 0, err
		}
		if len(result.Failed) > 0 {
			return 0, nil, 0, fmt.Errorf("%s", federation.DescribeFailures(result.Failed))
		}
		answers += result.Asked
		last = result
	}
	return time.Since(started), last, answers, nil
}

// queryContext is the panel context of every query: the range, 1-minute interval, 2000 points.
func queryContext(from, to int64) query.Context {
	return query.Context{From: time.UnixMilli(from), To: time.UnixMilli(to), Interval: time.Minute, MaxDataPoints: 2000}
}

// summarise fills median, p95, min and max from the runs.
func summarise(m *measurement) {
	sorted := append([]float64(nil), m.Ms...)
	sort.Float64s(sorted)
	m.Min, m.Max = sorted[0], sorted[len(sorted)-1]
	m.Median = sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		m.Median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	m.P95 = sorted[min(len(sorted)-1, (95*len(sorted)+99)/100-1)]
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fedbench: "+format+"\n", args...)
	os.Exit(1)
}

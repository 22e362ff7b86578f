package query

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

func settings(t *testing.T) *models.Settings {
	s, err := models.LoadSettings([]byte(`{"agents":[{"name":"a","url":"http://a"},{"name":"b","url":"http://b"}],"defaultDedupe":"connection"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

var hour = Context{From: time.UnixMilli(1_700_000_000_000), To: time.UnixMilli(1_700_003_600_000), Interval: 15 * time.Second, MaxDataPoints: 1000}

func parse(t *testing.T, js string) (Plan, error) {
	t.Helper()
	return Parse(json.RawMessage(js), hour, settings(t))
}

func mustParse(t *testing.T, js string) Plan {
	t.Helper()
	p, err := parse(t, js)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func filtersJSON(p Plan) string {
	b, _ := json.Marshal(p.Filters)
	return string(b)
}

func TestParseDefaults(t *testing.T) {
	p := mustParse(t, `{"queryType":"top","groupBy":["src_ip"],"dedupe":"default"}`)
	if p.Metric != "bytes" || p.Limit != 10 || !p.Dedupe || strings.Join(p.Agents, ",") != "a,b" {
		t.Errorf("plan %+v", p)
	}
	f := mustParse(t, `{"queryType":"flows"}`)
	if f.Order != "newest" || f.Limit != 1000 {
		t.Errorf("flows plan %+v", f)
	}
	ts := mustParse(t, `{"queryType":"timeseries"}`)
	// Grafana suggests 15s; an hour at 1000 points needs only 3.6s buckets, so 15s stands.
	if ts.IntervalMs != 15000 {
		t.Errorf("interval %d", ts.IntervalMs)
	}
}

func TestIncludeOpenReachesEveryAgentQueryAndThePagingFingerprint(t *testing.T) {
	live := mustParse(t, `{"queryType":"timeseries","includeOpen":true,"metric":"handshake_us_avg"}`)
	if !live.IncludeOpen || !live.base(models.KindTimeseries).IncludeOpen || live.Metric != "handshake_us_avg" {
		t.Errorf("plan %+v", live)
	}
	b, _ := json.Marshal(live.base(models.KindSummary))
	if !strings.Contains(string(b), `"include_open":true`) {
		t.Errorf("agent query %s", b)
	}
	stored := mustParse(t, `{"queryType":"flows"}`)
	withOpen := mustParse(t, `{"queryType":"flows","includeOpen":true}`)
	if b, _ := json.Marshal(stored.base(models.KindFlows)); strings.Contains(string(b), "include_open") {
		t.Errorf("include_open sent when not asked: %s", b)
	}
	if stored.pagingFingerprint() == withOpen.pagingFingerprint() {
		t.Error("a cursor of the stored-only listing must not page the one with open flows")
	}
}

func TestMultiValueVariablesBecomeMembership(t *testing.T) {
	p := mustParse(t, `{"queryType":"summary","filters":[
		{"field":"src_ip","op":"eq","value":"{10.0.0.1,10.0.0.2}"},
		{"field":"dst_port","op":"neq","value":"{80,443}"},
		{"field":"node","op":"in","values":["{a,b}","c"]},
		{"field":"protocol","op":"eq","value":"$__all"},
		{"field":"dst_port","op":"eq","value":"53"},
		{"field":"bytes","op":"gt","value":"1000"}]}`)
	want := `[{"field":"src_ip","op":"in","values":["10.0.0.1","10.0.0.2"]},{"field":"dst_port","op":"nin","values":[80,443]},{"field":"node","op":"in","values":["a","b","c"]},{"field":"dst_port","op":"eq","value":53},{"field":"bytes","op":"gt","value":1000}]`
	if got := filtersJSON(p); got != want {
		t.Errorf("filters\n got %s\nwant %s", got, want)
	}
}

func TestMacrosResolveAndUnknownVariablesAreNamed(t *testing.T) {
	p := mustParse(t, `{"queryType":"timeseries","interval":"$__interval","filters":[{"field":"text","op":"contains","value":"x$__interval_ms"}]}`)
	if p.IntervalMs != 15000 || filtersJSON(p) != `[{"field":"text","op":"contains","value":"x15000"}]` {
		t.Errorf("plan %d %s", p.IntervalMs, filtersJSON(p))
	}
	_, err := parse(t, `{"queryType":"summary","filters":[{"field":"src_ip","op":"eq","value":"${src}"}]}`)
	if err == nil || !strings.Contains(err.Error(), "template variable ${src} is not resolved") || !strings.Contains(err.Error(), "filters[0]") {
		t.Errorf("error %v", err)
	}
}

func TestIntervalOverridesAndBounds(t *testing.T) {
	if p := mustParse(t, `{"queryType":"timeseries","interval":"5m"}`); p.IntervalMs != 300000 {
		t.Errorf("5m -> %d", p.IntervalMs)
	}
	if p := mustParse(t, `{"queryType":"timeseries","interval":"1d"}`); p.IntervalMs != 86400000 {
		t.Errorf("1d -> %d", p.IntervalMs)
	}
	// 1s over an hour with MaxDataPoints 1000 would be 3600 buckets: widened to 3600ms.
	if p := mustParse(t, `{"queryType":"timeseries","interval":"1s"}`); p.IntervalMs != 3600 {
		t.Errorf("1s -> %d", p.IntervalMs)
	}
	if _, err := parse(t, `{"queryType":"timeseries","interval":"soon"}`); err == nil || !strings.Contains(err.Error(), `interval "soon"`) {
		t.Errorf("error %v", err)
	}
}

func TestParseRejectsBadQueriesClearly(t *testing.T) {
	cases := map[string]string{
		`{"queryType":"nope"}`: `queryType "nope": unknown`,
		`{}`:                   `queryType: missing`,
		`{"queryType":"top"}`:  `groupBy: 0 dimensions given`,
		`{"queryType":"top","groupBy":["src_mac"]}`:                                                       `groupBy: "src_mac" is not a dimension`,
		`{"queryType":"top","groupBy":["src_ip","dst_ip","dst_port","node","protocol"]}`:                  `groupBy: 5 dimensions given, use 1 to 4`,
		`{"queryType":"top","groupBy":["src_ip"],"metric":"bits"}`:                                        `metric "bits"`,
		`{"queryType":"flows","limit":20000}`:                                                             `limit (rows per page) 20000: must be between 1 and 10000`,
		`{"queryType":"flows","order":"random"}`:                                                          `order "random"`,
		`{"queryType":"summary","agents":["zzz"]}`:                                                        `agents: "zzz" is not a configured agent (configured: a, b)`,
		`{"queryType":"summary","dedupe":"maybe"}`:                                                        `dedupe "maybe"`,
		`{"queryType":"topology","topologyBy":"mac"}`:                                                     `topologyBy "mac"`,
		`{"queryType":"summary","filters":[{"field":"bytes","op":"cidr","value":"1"}]}`:                   `op "cidr" does not apply to bytes`,
		`{"queryType":"summary","filters":[{"field":"tcp_flags","op":"has_all","flags":["SYN","XMAS"]}]}`: `flag "XMAS"`,
		`{"queryType":"summary","filters":[{"field":"src_port","op":"range","min":1}]}`:                   `needs min and max`,
		`{"queryType":"summary","filters":[{"field":"nope","op":"eq","value":1}]}`:                        `unknown field "nope"`,
		`{"queryType":"summary","filters":[{"field":"bytes","op":"gt","value":"lots"}]}`:                  `value "lots" is not a number`,
		`{"queryType":`: `invalid query JSON`,
	}
	for js, want := range cases {
		if _, err := parse(t, js); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", js, err, want)
		}
	}
}

// Dedupe is never a trap: every grouping the editor offers (up to 4 top dimensions, up to
// 3 split dimensions, topology by name) plans under the provisioned default dedupe.
func TestDedupeAcceptsEveryGroupingTheEditorOffers(t *testing.T) {
	for _, js := range []string{
		`{"queryType":"top","groupBy":["src_name","src_ip","dst_name","dst_ip"]}`,
		`{"queryType":"top","groupBy":["community_id","direction","node","dst_port"]}`,
		`{"queryType":"timeseries","splitBy":["node","protocol","dst_port"]}`,
		`{"queryType":"topology","topologyBy":"name"}`,
	} {
		p, err := parse(t, js)
		if err != nil || !p.Dedupe {
			t.Errorf("%s: dedupe %v, error %v", js, p.Dedupe, err)
		}
	}
	if p := mustParse(t, `{"queryType":"topology","topologyBy":"name"}`); strings.Join(p.GroupBy, ",") != "src_name,src_ip,dst_name,dst_ip" {
		t.Errorf("topology by name groups by %v: the addresses are the fallback for empty names", p.GroupBy)
	}
}

func TestAgentSelectionExpandsMultiValue(t *testing.T) {
	if p := mustParse(t, `{"queryType":"summary","agents":["{b,a}"]}`); strings.Join(p.Agents, ",") != "b,a" {
		t.Errorf("agents %v", p.Agents)
	}
	if p := mustParse(t, `{"queryType":"summary","agents":["$__all"]}`); len(p.Agents) != 2 {
		t.Errorf("agents %v", p.Agents)
	}
}

package models

import (
	"strings"
	"testing"
)

func TestLoadSettingsAppliesDefaultsAndTokens(t *testing.T) {
	s, err := LoadSettings([]byte(`{"agents":[{"name":"gw","url":"http://10.0.0.1:9477/"},{"name":"laptop","url":"https://laptop:9477"}]}`),
		map[string]string{"token": "shared", "token.laptop": "own"})
	if err != nil {
		t.Fatal(err)
	}
	if s.TimeoutMs != 10000 || s.MaxConcurrency != 8 || s.RowBudget != DefaultRowBudget || s.DefaultDedupe != "none" || s.MaxQueryMemoryMB != 256 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Agents[0].URL != "http://10.0.0.1:9477" {
		t.Errorf("trailing slash kept: %q", s.Agents[0].URL)
	}
	if s.TokenFor("gw") != "shared" || s.TokenFor("laptop") != "own" || s.TokenFor("discovered-later") != "shared" {
		t.Errorf("tokens: gw %q laptop %q discovered %q", s.TokenFor("gw"), s.TokenFor("laptop"), s.TokenFor("discovered-later"))
	}
}

func TestLoadSettingsRejectsBadInputNamingTheField(t *testing.T) {
	cases := map[string]struct{ json, want string }{
		"no agents":       {`{}`, "agents: configure at least one agent"},
		"empty name":      {`{"agents":[{"name":"","url":"http://a:1"}]}`, "agents[0].name: must not be empty"},
		"bad name":        {`{"agents":[{"name":"a b","url":"http://a:1"}]}`, `agents[0].name "a b"`},
		"duplicate":       {`{"agents":[{"name":"a","url":"http://a:1"},{"name":"a","url":"http://b:1"}]}`, `agents[1].name "a": duplicate of agents[0]`},
		"relative url":    {`{"agents":[{"name":"a","url":"/api"}]}`, "must be an absolute http:// or https:// URL"},
		"ftp url":         {`{"agents":[{"name":"a","url":"ftp://a"}]}`, "must be an absolute http:// or https:// URL"},
		"no host":         {`{"agents":[{"name":"a","url":"http://"}]}`, "has no host"},
		"empty url":       {`{"agents":[{"name":"a","url":""}]}`, `agents[0].url "": must not be empty`},
		"timeout":         {`{"agents":[{"name":"a","url":"http://a"}],"timeoutMs":5}`, "timeoutMs 5: must be between 100 and 600000"},
		"concurrency":     {`{"agents":[{"name":"a","url":"http://a"}],"maxConcurrency":-1}`, "maxConcurrency -1"},
		"dedupe":          {`{"agents":[{"name":"a","url":"http://a"}],"defaultDedupe":"all"}`, `defaultDedupe "all"`},
		"row budget":      {`{"agents":[{"name":"a","url":"http://a"}],"rowBudget":1000000}`, "rowBudget 1000000"},
		"query memory":    {`{"agents":[{"name":"a","url":"http://a"}],"maxQueryMemoryMB":-5}`, "maxQueryMemoryMB -5: must be between 1 and 65536"},
		"not json":        {`{agents:`, "invalid jsonData"},
		"agents wrong ty": {`{"agents":{"name":"a"}}`, "invalid jsonData"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadSettings([]byte(c.json), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadSettingsReportsEveryProblemAtOnce(t *testing.T) {
	_, err := LoadSettings([]byte(`{"agents":[{"name":"","url":"x"}],"timeoutMs":1}`), nil)
	for _, want := range []string{"agents[0].name", "agents[0].url", "timeoutMs"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// An agent URL may carry credentials; a settings error shows the URL with them replaced.
func TestSettingsErrorsRedactURLCredentials(t *testing.T) {
	for _, url := range []string{"ftp://flowuser:s3cret@a:1", "http://flowuser:s3cret@[::1", "http://flowuser:s3cret@a:1/?q=1"} {
		_, err := LoadSettings([]byte(`{"agents":[{"name":"a","url":"`+url+`"}]}`), nil)
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "flowuser") || !strings.Contains(err.Error(), "xxxxx@") {
			t.Errorf("%s: error %v", url, err)
		}
	}
}

func TestRedactURLAndCredentials(t *testing.T) {
	cases := map[string]string{
		"http://u:p@host:9477":      "http://xxxxx@host:9477",
		"https://only-user@host/x":  "https://xxxxx@host/x",
		"http://host:9477":          "http://host:9477",
		"http://u:p@[bad":           "http://xxxxx@[bad",
		"http://u%40x:p%3Aq@h:1/ap": "http://xxxxx@h:1/ap",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	text := `Post "http://flowuser:***@h:1/api/v1/query": dial tcp: refused; raw http://flowuser:longpassword@h:1; escaped flowuser:longpassword@`
	got := RedactCredentials(text, "http://flowuser:longpassword@h:1")
	if strings.Contains(got, "flowuser") || strings.Contains(got, "longpassword") {
		t.Errorf("RedactCredentials left credentials in %q", got)
	}
}

func TestDiscoveryAndPinSettingsAreValidatedNamingTheField(t *testing.T) {
	pin := strings.Repeat("AB:", 31) + "AB"
	ok := `{"discovery":{"dns":{"names":["_flowmesh._tcp.mesh.example."],"resolver":"10.0.0.53:53"},"prometheus":{"url":"http://prom:9090","job":"flowmesh"}},"tlsPins":{"gw":"` + pin + `"}}`
	s, err := LoadSettings([]byte(ok), map[string]string{"token": "t"})
	if err != nil {
		t.Fatalf("valid discovery settings refused: %v", err)
	}
	if s.Discovery.RefreshIntervalS != DefaultRefreshIntervalS || s.Discovery.DNS.Scheme != "http" || s.Discovery.Prometheus.NameLabel != "node" {
		t.Errorf("discovery defaults: %+v", s.Discovery)
	}
	if got := FormatPin(s.PinFor("gw")); got != pin {
		t.Errorf("pin %s", got)
	}
	if s.PinFor("other") != nil {
		t.Error("a pin for an agent without one")
	}

	cases := map[string]struct{ json, want string }{
		"srv name":        {`{"discovery":{"dns":{"names":["flowmesh.example"]}}}`, `discovery.dns.names[0] "flowmesh.example": must be an SRV name`},
		"resolver":        {`{"discovery":{"dns":{"names":["_a._tcp.x"],"resolver":"10.0.0.53"}}}`, `discovery.dns.resolver "10.0.0.53": must be host:port`},
		"scheme":          {`{"discovery":{"dns":{"names":["_a._tcp.x"],"scheme":"ftp"}}}`, `discovery.dns.scheme "ftp": must be http or https`},
		"prometheus job":  {`{"discovery":{"prometheus":{"url":"http://prom:9090"}}}`, "discovery.prometheus.job: the job that scrapes the agents is required"},
		"prometheus url":  {`{"discovery":{"prometheus":{"url":"prom:9090","job":"f"}}}`, `discovery.prometheus.url "prom:9090"`},
		"job without url": {`{"agents":[{"name":"a","url":"http://a"}],"discovery":{"prometheus":{"job":"f"}}}`, "discovery.prometheus.url: the Prometheus base URL"},
		"creds in url":    {`{"discovery":{"prometheus":{"url":"http://u:p@prom:9090","job":"f"}}}`, "discovery.prometheus.url: put the user in discovery.prometheus.user"},
		"name label":      {`{"discovery":{"prometheus":{"url":"http://prom:9090","job":"f","nameLabel":"no-dash"}}}`, `discovery.prometheus.nameLabel "no-dash"`},
		"interval":        {`{"discovery":{"dns":{"names":["_a._tcp.x"]},"refreshIntervalS":1}}`, "discovery.refreshIntervalS 1: must be between 5 and 86400"},
		"pin digits":      {`{"agents":[{"name":"gw","url":"https://gw"}],"tlsPins":{"gw":"abc"}}`, `tlsPins["gw"] "abc": must be a SHA-256 fingerprint`},
		"pin on http":     {`{"agents":[{"name":"gw","url":"http://gw"}],"tlsPins":{"gw":"` + pin + `"}}`, `tlsPins["gw"]: agents[0].url "http://gw" is plain http://`},
		"nothing to ask":  {`{"discovery":{}}`, "agents: configure at least one agent (name and URL), or discover agents"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadSettings([]byte(c.json), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := LoadSettings([]byte(`{"discovery":{"prometheus":{"url":"http://prom:9090","job":"f"}}}`), map[string]string{"prometheusPassword": "x"}); err == nil ||
		!strings.Contains(err.Error(), "discovery.prometheus.user: a Prometheus password is set") {
		t.Errorf("password without user: %v", err)
	}
}

func TestPinsAreReadAsOpensslPrintsThem(t *testing.T) {
	hexPin := strings.Repeat("0f", 32)
	for _, text := range []string{hexPin, strings.ToUpper(hexPin), "sha256 Fingerprint=" + strings.Repeat("0F:", 31) + "0F", "sha256:" + hexPin} {
		b, err := ParsePin(text)
		if err != nil || len(b) != 32 || b[0] != 0x0f {
			t.Errorf("ParsePin(%q) = %x, %v", text, b, err)
		}
	}
	if b, err := ParsePin(""); b != nil || err != nil {
		t.Errorf("empty pin: %x %v", b, err)
	}
	if _, err := ParsePin(strings.Repeat("0f", 20)); err == nil {
		t.Error("a SHA-1 length fingerprint was accepted")
	}
}

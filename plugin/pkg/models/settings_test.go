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
	if s.Tokens["gw"] != "shared" || s.Tokens["laptop"] != "own" {
		t.Errorf("tokens: %v", s.Tokens)
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

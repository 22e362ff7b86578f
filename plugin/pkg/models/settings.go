package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Defaults and bounds of the data source settings.
const (
	DefaultTimeoutMs      = 10000
	MinTimeoutMs          = 100
	MaxTimeoutMs          = 600000
	DefaultMaxConcurrency = 8
	MaxMaxConcurrency     = 64
	DefaultRowBudget      = 50000
	MaxRowBudget          = MaxTopLimit
	DefaultQueryMemoryMB  = 256
	MinQueryMemoryMB      = 1
	MaxQueryMemoryMB      = 65536
	DedupeNone            = "none"
	DedupeConnection      = "connection"
)

// AgentConfig is one configured agent: a unique name and the base URL of its HTTP API.
type AgentConfig struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Settings is the validated data source configuration (jsonData + secureJsonData).
type Settings struct {
	Agents         []AgentConfig `json:"agents"`
	TimeoutMs      int64         `json:"timeoutMs"`
	MaxConcurrency int           `json:"maxConcurrency"`
	TLSSkipVerify  bool          `json:"tlsSkipVerify"`
	TLSCACert      string        `json:"tlsCACert"`
	DefaultDedupe  string        `json:"defaultDedupe"`
	RowBudget      int64         `json:"rowBudget"`
	// MaxQueryMemoryMB bounds what one query's agent replies may take, all agents together.
	MaxQueryMemoryMB int64 `json:"maxQueryMemoryMB"`

	// Tokens holds the bearer token per agent name ("" = send none).
	Tokens map[string]string `json:"-"`
}

var agentNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// LoadSettings parses jsonData and secureJsonData, applies defaults and validates. The
// error lists every problem found, each naming the offending field.
func LoadSettings(jsonData []byte, secure map[string]string) (Settings, error) {
	var s Settings
	if len(strings.TrimSpace(string(jsonData))) > 0 {
		if err := json.Unmarshal(jsonData, &s); err != nil {
			return Settings{}, fmt.Errorf("invalid jsonData: %w", err)
		}
	}
	s.applyDefaults(secure)
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func (s *Settings) applyDefaults(secure map[string]string) {
	if s.TimeoutMs == 0 {
		s.TimeoutMs = DefaultTimeoutMs
	}
	if s.MaxConcurrency == 0 {
		s.MaxConcurrency = DefaultMaxConcurrency
	}
	if s.RowBudget == 0 {
		s.RowBudget = DefaultRowBudget
	}
	if s.MaxQueryMemoryMB == 0 {
		s.MaxQueryMemoryMB = DefaultQueryMemoryMB
	}
	if s.DefaultDedupe == "" {
		s.DefaultDedupe = DedupeNone
	}
	if ca := strings.TrimSpace(secure["tlsCACert"]); ca != "" {
		s.TLSCACert = ca
	}
	s.Tokens = make(map[string]string, len(s.Agents))
	for i := range s.Agents {
		s.Agents[i].Name = strings.TrimSpace(s.Agents[i].Name)
		s.Agents[i].URL = strings.TrimRight(strings.TrimSpace(s.Agents[i].URL), "/")
		name := s.Agents[i].Name
		if tok, ok := secure["token."+name]; ok && tok != "" {
			s.Tokens[name] = tok
		} else {
			s.Tokens[name] = secure["token"]
		}
	}
}

// Validate checks every field and returns all problems at once.
func (s *Settings) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(s.Agents) == 0 {
		add("agents: configure at least one agent (name and URL)")
	}
	seen := map[string]int{}
	for i, a := range s.Agents {
		switch {
		case a.Name == "":
			add("agents[%d].name: must not be empty", i)
		case !agentNamePattern.MatchString(a.Name):
			add("agents[%d].name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", i, a.Name)
		}
		if j, dup := seen[a.Name]; dup && a.Name != "" {
			add("agents[%d].name %q: duplicate of agents[%d]", i, a.Name, j)
		}
		seen[a.Name] = i
		if err := validateAgentURL(a.URL); err != nil {
			add("agents[%d].url %q: %v", i, RedactURL(a.URL), err)
		}
	}
	if s.TimeoutMs < MinTimeoutMs || s.TimeoutMs > MaxTimeoutMs {
		add("timeoutMs %d: must be between %d and %d", s.TimeoutMs, MinTimeoutMs, MaxTimeoutMs)
	}
	if s.MaxConcurrency < 1 || s.MaxConcurrency > MaxMaxConcurrency {
		add("maxConcurrency %d: must be between 1 and %d", s.MaxConcurrency, MaxMaxConcurrency)
	}
	if s.RowBudget < 1 || s.RowBudget > MaxRowBudget {
		add("rowBudget %d: must be between 1 and %d", s.RowBudget, MaxRowBudget)
	}
	if s.MaxQueryMemoryMB < MinQueryMemoryMB || s.MaxQueryMemoryMB > MaxQueryMemoryMB {
		add("maxQueryMemoryMB %d: must be between %d and %d", s.MaxQueryMemoryMB, MinQueryMemoryMB, MaxQueryMemoryMB)
	}
	if s.DefaultDedupe != DedupeNone && s.DefaultDedupe != DedupeConnection {
		add("defaultDedupe %q: must be %q or %q", s.DefaultDedupe, DedupeNone, DedupeConnection)
	}
	if len(problems) > 0 {
		return errors.New("invalid data source settings: " + strings.Join(problems, "; "))
	}
	return nil
}

func validateAgentURL(raw string) error {
	if raw == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var parseErr *url.Error
		if errors.As(err, &parseErr) {
			err = parseErr.Err // without the URL, which may hold credentials
		}
		return fmt.Errorf("not a URL (%v)", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not carry a query or fragment")
	}
	return nil
}

// AgentNames returns the configured agent names in configuration order.
func (s *Settings) AgentNames() []string {
	names := make([]string, len(s.Agents))
	for i, a := range s.Agents {
		names[i] = a.Name
	}
	return names
}

package models

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
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

	DefaultRefreshIntervalS = 60
	MinRefreshIntervalS     = 5
	MaxRefreshIntervalS     = 86400
	DefaultDiscoveryScheme  = "http"
	DefaultNameLabel        = "node"
)

// AgentConfig is one agent: a unique name and the base URL of its HTTP API. Configured
// agents come from jsonData.agents; discovered ones (pkg/discovery) are built the same way.
type AgentConfig struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Resolver is the DNS server (host:port) that resolves the URL's host name; empty = the
	// system's. Set for agents found through an SRV lookup on a configured resolver.
	Resolver string `json:"-"`
}

// Discovery finds agents besides the configured list: DNS SRV records and the targets of the
// Prometheus job that scrapes the agents, refreshed every RefreshIntervalS.
type Discovery struct {
	RefreshIntervalS int                 `json:"refreshIntervalS"`
	DNS              DNSDiscovery        `json:"dns"`
	Prometheus       PrometheusDiscovery `json:"prometheus"`
}

// DNSDiscovery looks up SRV records (e.g. _flowmesh._tcp.mesh.example.): each target host and
// port is an agent at Scheme://target:port, named by the target's first label.
type DNSDiscovery struct {
	Names    []string `json:"names"`
	Resolver string   `json:"resolver"` // host:port of the DNS server; empty = the system resolver
	Scheme   string   `json:"scheme"`   // http or https
}

// PrometheusDiscovery reads /api/v1/targets of the Prometheus that scrapes the agents: every
// active target of Job is an agent at its scrape URL's scheme and host, named by NameLabel
// (else by its instance).
type PrometheusDiscovery struct {
	URL       string `json:"url"`
	Job       string `json:"job"`
	NameLabel string `json:"nameLabel"`
	// User, with secureJsonData.prometheusPassword, is sent as HTTP basic authentication.
	User string `json:"user"`

	password string
}

// Password is secureJsonData.prometheusPassword.
func (p PrometheusDiscovery) Password() string { return p.password }

// Enabled reports whether any discovery source is configured.
func (d Discovery) Enabled() bool { return len(d.DNS.Names) > 0 || d.Prometheus.URL != "" }

// Settings is the validated data source configuration (jsonData + secureJsonData).
type Settings struct {
	Agents         []AgentConfig `json:"agents"`
	TimeoutMs      int64         `json:"timeoutMs"`
	MaxConcurrency int           `json:"maxConcurrency"`
	TLSSkipVerify  bool          `json:"tlsSkipVerify"`
	TLSCACert      string        `json:"tlsCACert"`
	DefaultDedupe  string        `json:"defaultDedupe"`
	RowBudget      int64         `json:"rowBudget"`
	// TLSPins maps an agent name (configured or discovered) to the SHA-256 fingerprint of the
	// certificate it must present, as `openssl x509 -noout -fingerprint -sha256` prints it.
	TLSPins   map[string]string `json:"tlsPins"`
	Discovery Discovery         `json:"discovery"`
	// MaxQueryMemoryMB bounds what one query's agent replies may take, all agents together.
	MaxQueryMemoryMB int64 `json:"maxQueryMemoryMB"`

	sharedToken string
	agentTokens map[string]string // secureJsonData token.<agent name>
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
	s.sharedToken = secure["token"]
	s.agentTokens = map[string]string{}
	for key, tok := range secure {
		if name, ok := strings.CutPrefix(key, "token."); ok && tok != "" {
			s.agentTokens[name] = tok
		}
	}
	for i := range s.Agents {
		s.Agents[i].Name = strings.TrimSpace(s.Agents[i].Name)
		s.Agents[i].URL = strings.TrimRight(strings.TrimSpace(s.Agents[i].URL), "/")
	}
	d := &s.Discovery
	if d.RefreshIntervalS == 0 {
		d.RefreshIntervalS = DefaultRefreshIntervalS
	}
	if d.DNS.Scheme == "" {
		d.DNS.Scheme = DefaultDiscoveryScheme
	}
	d.DNS.Resolver = strings.TrimSpace(d.DNS.Resolver)
	for i, n := range d.DNS.Names {
		d.DNS.Names[i] = strings.TrimSpace(n)
	}
	d.Prometheus.URL = strings.TrimRight(strings.TrimSpace(d.Prometheus.URL), "/")
	d.Prometheus.Job = strings.TrimSpace(d.Prometheus.Job)
	d.Prometheus.password = secure["prometheusPassword"]
	if d.Prometheus.NameLabel == "" {
		d.Prometheus.NameLabel = DefaultNameLabel
	}
}

// TokenFor is the bearer token for an agent: its token.<name> override, else the shared token
// ("" = send none). It applies to configured and discovered agents alike.
func (s *Settings) TokenFor(name string) string {
	if tok, ok := s.agentTokens[name]; ok {
		return tok
	}
	return s.sharedToken
}

// PinFor is the pinned certificate fingerprint (32 bytes) of an agent, or nil.
func (s *Settings) PinFor(name string) []byte {
	pin, err := ParsePin(s.TLSPins[name])
	if err != nil {
		return nil
	}
	return pin
}

// ParsePin reads a SHA-256 fingerprint written as 64 hex digits, with or without colons
// (AB:CD:... as openssl prints it) and an optional "sha256:" prefix. "" is no pin.
func ParsePin(text string) ([]byte, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return nil, nil
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sha256:"), "SHA256:")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sha256 Fingerprint="), "SHA256 Fingerprint=")
	b, err := hex.DecodeString(strings.ReplaceAll(t, ":", ""))
	if err != nil || len(b) != 32 {
		return nil, errors.New("must be a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256 -in agent.crt)")
	}
	return b, nil
}

// FormatPin writes a fingerprint the way openssl prints it (AB:CD:...).
func FormatPin(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// WithAgents returns a copy of the settings whose agent list is agents (what discovery
// found now); tokens, pins and limits are shared.
func (s *Settings) WithAgents(agents []AgentConfig) *Settings {
	c := *s
	c.Agents = agents
	return &c
}

// Validate checks every field and returns all problems at once.
func (s *Settings) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(s.Agents) == 0 && !s.Discovery.Enabled() {
		add("agents: configure at least one agent (name and URL), or discover agents (discovery.dns.names, discovery.prometheus.url)")
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
	for name, pin := range s.TLSPins {
		if !agentNamePattern.MatchString(name) {
			add("tlsPins[%q]: not an agent name (1-64 letters, digits, '.', '_' or '-')", name)
		}
		if _, err := ParsePin(pin); err != nil || strings.TrimSpace(pin) == "" {
			add("tlsPins[%q] %q: must be a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256 -in agent.crt)", name, pin)
		}
	}
	for i, a := range s.Agents {
		if s.TLSPins[a.Name] != "" && strings.HasPrefix(a.URL, "http://") {
			add("tlsPins[%q]: agents[%d].url %q is plain http://; a pinned certificate needs https://", a.Name, i, RedactURL(a.URL))
		}
	}
	problems = append(problems, s.Discovery.validate()...)
	if len(problems) > 0 {
		return errors.New("invalid data source settings: " + strings.Join(problems, "; "))
	}
	return nil
}

func (d Discovery) validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.RefreshIntervalS < MinRefreshIntervalS || d.RefreshIntervalS > MaxRefreshIntervalS {
		add("discovery.refreshIntervalS %d: must be between %d and %d", d.RefreshIntervalS, MinRefreshIntervalS, MaxRefreshIntervalS)
	}
	for i, name := range d.DNS.Names {
		if !srvNamePattern.MatchString(name) {
			add("discovery.dns.names[%d] %q: must be an SRV name such as _flowmesh._tcp.mesh.example.", i, name)
		}
	}
	if d.DNS.Resolver != "" {
		if err := validateHostPort(d.DNS.Resolver); err != nil {
			add("discovery.dns.resolver %q: %v", d.DNS.Resolver, err)
		}
	}
	if d.DNS.Scheme != "http" && d.DNS.Scheme != "https" {
		add("discovery.dns.scheme %q: must be http or https", d.DNS.Scheme)
	}
	p := d.Prometheus
	if p.URL != "" {
		if err := validateAgentURL(p.URL); err != nil {
			add("discovery.prometheus.url %q: %v", p.URL, err)
		}
		if p.Job == "" {
			add("discovery.prometheus.job: the job that scrapes the agents is required with discovery.prometheus.url")
		}
	} else if p.Job != "" {
		add("discovery.prometheus.url: the Prometheus base URL (e.g. http://prometheus:9090) is required with discovery.prometheus.job")
	}
	if p.password != "" && p.User == "" {
		add("discovery.prometheus.user: a Prometheus password is set (secureJsonData.prometheusPassword) but no user")
	}
	if u, err := url.Parse(p.URL); err == nil && u.User != nil {
		add("discovery.prometheus.url: put the user in discovery.prometheus.user and the password in secureJsonData.prometheusPassword, not in the URL")
	}
	if !labelNamePattern.MatchString(p.NameLabel) {
		add("discovery.prometheus.nameLabel %q: must be a Prometheus label name", p.NameLabel)
	}
	return problems
}

var (
	// _service._proto.domain, the trailing dot optional
	srvNamePattern   = regexp.MustCompile(`^_[A-Za-z0-9-]{1,62}\._(tcp|udp)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\.?$`)
	labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func validateHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" {
		return errors.New("must be host:port, e.g. 10.0.0.53:53 or [fd00::53]:53")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1-65535")
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

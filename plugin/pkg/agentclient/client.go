// Package agentclient talks to one Flowmesh agent over its HTTP API (POST /api/v1/query,
// GET /info) and turns every failure into an *Error that names the agent and says what
// went wrong in words an operator can act on (timeout after Xms, connection refused,
// HTTP 401 unauthorised, bad JSON, wrong api_version). Replies are decoded strictly, as
// they stream, within what the query asked for and the query's memory Budget (decode.go,
// budget.go). Credentials in an agent URL never appear in what it reports (URL, messages).
package agentclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// DefaultQueryMemory is the reply budget of a query whose clients carry none (models.DefaultQueryMemoryMB).
const DefaultQueryMemory = models.DefaultQueryMemoryMB << 20

// Bounds of the small replies: GET /info and error bodies.
const (
	maxInfoBytes  = 1 << 20
	maxErrorBytes = 64 << 10
)

// Client queries one agent. It is safe for concurrent use.
type Client struct {
	Name string
	// URL is the agent's base URL as it may be shown: user and password replaced (models.RedactURL).
	URL     string
	Timeout time.Duration
	base    string // what requests go to, credentials included
	token   string
	http    *http.Client
	version *versionCache
	budget  *Budget // this agent's share of the memory bound of the query this client serves; nil = DefaultQueryMemory per request
}

// New returns a client for one configured agent using the shared transport.
func New(cfg models.AgentConfig, token string, timeout time.Duration, transport http.RoundTripper) *Client {
	base := strings.TrimRight(cfg.URL, "/")
	return &Client{
		Name:    cfg.Name,
		URL:     models.RedactURL(base),
		Timeout: timeout,
		base:    base,
		token:   token,
		http:    &http.Client{Transport: transport, CheckRedirect: noRedirects},
		version: &versionCache{},
	}
}

// WithBudget returns a client of the same agent whose replies, every request of one query
// together, are read within b (its share of the query's bound, NewShares).
func (c *Client) WithBudget(b *Budget) *Client {
	bound := *c
	bound.budget = b
	return &bound
}

// Agents answer directly; following a redirect could leak the bearer token elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Info fetches GET /info and checks the agent speaks api_version 1.
func (c *Client) Info(ctx context.Context) (models.AgentInfo, error) {
	var info models.AgentInfo
	err := c.exchange(ctx, http.MethodGet, "/info", nil, NewShares(maxInfoBytes, 1)[0], func(r *meteredReader) error {
		if err := json.NewDecoder(r).Decode(&info); err != nil {
			if r.spent {
				return c.fail(KindBadReply, 0, fmt.Sprintf("/info reply larger than %d KiB", maxInfoBytes>>10), err)
			}
			return c.fail(KindBadReply, 0, fmt.Sprintf("invalid JSON from /info: %v", err), err)
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if info.APIVersion.String() == "" {
		return info, c.fail(KindBadReply, 0, "/info has no api_version: is this a Flowmesh agent?", nil)
	}
	if info.APIVersion.String() != fmt.Sprint(models.APIVersion) {
		return info, c.fail(KindVersion, 0,
			fmt.Sprintf("version mismatch: agent speaks api_version %s, this plugin speaks %d", info.APIVersion, models.APIVersion), nil)
	}
	return info, nil
}

// Query posts q to /api/v1/query and decodes the reply strictly into out, which must
// point to the result type of q.Kind (models.FlowsResult for "flows", ...).
func (c *Client) Query(ctx context.Context, q models.Query, out any) error {
	payload, err := json.Marshal(q)
	if err != nil {
		return c.fail(KindInternal, 0, fmt.Sprintf("cannot encode query: %v", err), err)
	}
	budget := c.budget
	if budget == nil {
		budget = NewShares(DefaultQueryMemory, 1)[0]
	}
	return c.exchange(ctx, http.MethodPost, "/api/v1/query", payload, budget, func(r *meteredReader) error {
		return c.decodeReply(r, q, out)
	})
}

// exchange performs one request under the per-agent timeout; read decodes a 2xx body as it
// streams in, within budget. A failure while the body is read (timeout, reset) is reported
// as such, not as a bad reply.
func (c *Client) exchange(parent context.Context, method, path string, payload []byte, budget *Budget, read func(*meteredReader) error) error {
	ctx, cancel := context.WithTimeout(parent, c.Timeout)
	defer cancel()
	started := time.Now()
	var reader io.Reader
	if payload != nil {
		reader = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return c.fail(KindInternal, 0, "cannot build the request: the agent URL is not usable", nil)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(parent, ctx, err, started)
	}
	// Closing without reading the rest drops the connection: a reply refused half-way is not drained.
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		if err != nil {
			return c.transportError(parent, ctx, err, started)
		}
		return c.httpError(resp.StatusCode, body)
	}
	r := &meteredReader{body: resp.Body, budget: budget}
	if err := read(r); err != nil {
		if r.readErr != nil || ctx.Err() != nil {
			cause := r.readErr
			if cause == nil {
				cause = ctx.Err()
			}
			return c.transportError(parent, ctx, cause, started)
		}
		return err
	}
	return nil
}

func (c *Client) transportError(parent, ctx context.Context, err error, started time.Time) error {
	switch {
	case parent.Err() != nil && errors.Is(parent.Err(), context.Canceled):
		return c.fail(KindCancelled, 0, "request cancelled", err)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		if parent.Err() != nil {
			return c.fail(KindTimeout, 0, fmt.Sprintf("timeout: the request deadline passed after %dms", time.Since(started).Milliseconds()), err)
		}
		return c.fail(KindTimeout, 0, fmt.Sprintf("timeout after %dms (no complete answer from %s; raise timeoutMs or narrow the query)", c.Timeout.Milliseconds(), c.URL), err)
	}
	if message, ok := describeTLSError(err, c.Name, c.URL); ok {
		return c.fail(KindTLS, 0, message, err)
	}
	return c.fail(classifyNetError(err), 0, describeNetError(err, c.URL), err)
}

func (c *Client) httpError(status int, body []byte) error {
	var apiErr models.ApiError
	detail := ""
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Message != "" {
		detail = apiErr.Message
		if apiErr.Field != "" {
			detail += " (field " + apiErr.Field + ")"
		}
	} else {
		detail = snippet(body)
	}
	switch status {
	case http.StatusUnauthorized:
		return c.fail(KindUnauthorized, status, fmt.Sprintf("HTTP 401 unauthorised: check secureJsonData token.%s or token", c.Name), nil)
	case http.StatusForbidden:
		return c.fail(KindUnauthorized, status, "HTTP 403 forbidden: "+detail, nil)
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return c.fail(KindTimeout, status, fmt.Sprintf("HTTP %d: the agent's query timeout passed: %s", status, detail), nil)
	case http.StatusRequestEntityTooLarge:
		return c.fail(KindRowBudget, status, "HTTP 413 row budget exceeded on the agent: "+detail, nil)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return c.fail(KindOverloaded, status, fmt.Sprintf("HTTP %d agent busy or store unavailable: %s", status, detail), nil)
	case http.StatusNotFound:
		return c.fail(KindHTTP, status, "HTTP 404 not found: is the URL the agent's base URL (e.g. http://host:9477)? "+detail, nil)
	}
	return c.fail(KindHTTP, status, fmt.Sprintf("HTTP %d: %s", status, detail), nil)
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// fail builds the agent's error. Its message is shown (panel notices, health, resources,
// logs), so any trace of the URL's credentials a lower layer put into it is replaced too.
func (c *Client) fail(kind Kind, status int, message string, cause error) *Error {
	return &Error{Agent: c.Name, Kind: kind, HTTPStatus: status, Message: models.RedactCredentials(message, c.base), Err: cause}
}

// Package agentclient talks to one Flowmesh agent over its HTTP API (POST /api/v1/query,
// GET /info) and turns every failure into an *Error that names the agent and says what
// went wrong in words an operator can act on (timeout after Xms, connection refused,
// HTTP 401 unauthorised, bad JSON, wrong api_version). Replies are decoded strictly.
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

// MaxReplyBytes bounds how much of an agent reply is read (a 10000-row flows page is ~7 MB).
const MaxReplyBytes = 256 << 20

// Client queries one agent. It is safe for concurrent use.
type Client struct {
	Name    string
	BaseURL string
	Timeout time.Duration
	token   string
	http    *http.Client
	version versionCache
}

// New returns a client for one configured agent using the shared transport.
func New(cfg models.AgentConfig, token string, timeout time.Duration, transport http.RoundTripper) *Client {
	return &Client{
		Name:    cfg.Name,
		BaseURL: strings.TrimRight(cfg.URL, "/"),
		Timeout: timeout,
		token:   token,
		http:    &http.Client{Transport: transport, CheckRedirect: noRedirects},
	}
}

// Agents answer directly; following a redirect could leak the bearer token elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Info fetches GET /info and checks the agent speaks api_version 1.
func (c *Client) Info(ctx context.Context) (models.AgentInfo, error) {
	var info models.AgentInfo
	body, err := c.do(ctx, http.MethodGet, "/info", nil)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return info, c.fail(KindBadReply, 0, fmt.Sprintf("invalid JSON from /info: %v", err), err)
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
	body, err := c.do(ctx, http.MethodPost, "/api/v1/query", payload)
	if err != nil {
		return err
	}
	return c.decodeResult(body, q.Kind, out)
}

// do performs one request under the per-agent timeout and returns the body of a 2xx reply.
func (c *Client) do(parent context.Context, method, path string, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, c.Timeout)
	defer cancel()
	started := time.Now()
	var reader io.Reader
	if payload != nil {
		reader = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, reader)
	if err != nil {
		return nil, c.fail(KindInternal, 0, fmt.Sprintf("cannot build request: %v", err), err)
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
		return nil, c.transportError(parent, ctx, err, started)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes+1))
	if err != nil {
		return nil, c.transportError(parent, ctx, err, started)
	}
	if len(body) > MaxReplyBytes {
		return nil, c.fail(KindBadReply, resp.StatusCode, fmt.Sprintf("reply larger than %d MiB: lower the limit or narrow the query", MaxReplyBytes>>20), nil)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.httpError(resp.StatusCode, body)
	}
	return body, nil
}

func (c *Client) transportError(parent, ctx context.Context, err error, started time.Time) error {
	switch {
	case parent.Err() != nil && errors.Is(parent.Err(), context.Canceled):
		return c.fail(KindCancelled, 0, "request cancelled", err)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		if parent.Err() != nil {
			return c.fail(KindTimeout, 0, fmt.Sprintf("timeout: the request deadline passed after %dms", time.Since(started).Milliseconds()), err)
		}
		return c.fail(KindTimeout, 0, fmt.Sprintf("timeout after %dms (no complete answer from %s; raise timeoutMs or narrow the query)", c.Timeout.Milliseconds(), c.BaseURL), err)
	}
	if message, ok := describeTLSError(err, c.Name, c.BaseURL); ok {
		return c.fail(KindTLS, 0, message, err)
	}
	return c.fail(classifyNetError(err), 0, describeNetError(err, c.BaseURL), err)
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

func (c *Client) fail(kind Kind, status int, message string, cause error) *Error {
	return &Error{Agent: c.Name, Kind: kind, HTTPStatus: status, Message: message, Err: cause}
}

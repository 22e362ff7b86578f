package agentclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// Kind classifies an agent failure so callers can map it to a status and a message.
type Kind string

// Failure kinds.
const (
	KindTimeout      Kind = "timeout"
	KindRefused      Kind = "connection refused"
	KindUnreachable  Kind = "unreachable"
	KindUnauthorized Kind = "unauthorised"
	KindVersion      Kind = "version mismatch"
	KindBadReply     Kind = "bad reply"
	KindHTTP         Kind = "http error"
	KindRowBudget    Kind = "row budget"
	KindOverloaded   Kind = "overloaded"
	KindMemory       Kind = "memory bound"
	KindCancelled    Kind = "cancelled"
	KindInternal     Kind = "internal"
)

// Error is one agent's failure; Error() names the agent.
type Error struct {
	Agent      string
	Kind       Kind
	HTTPStatus int
	Message    string
	Err        error
}

func (e *Error) Error() string { return fmt.Sprintf("agent %s: %s", e.Agent, e.Message) }

// Unwrap exposes the cause (e.g. context.DeadlineExceeded).
func (e *Error) Unwrap() error { return e.Err }

// AsError extracts an *Error from err, wrapping foreign errors as KindInternal.
func AsError(agent string, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return &Error{Agent: agent, Kind: KindInternal, Message: err.Error(), Err: err}
}

func classifyNetError(err error) Kind {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return KindRefused
	}
	return KindUnreachable
}

func describeNetError(err error, base string) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("connection refused at %s (is the agent running and listening there?)", base)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("unreachable: cannot resolve host %q", dnsErr.Name)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Sprintf("unreachable at %s: %v", base, err)
}

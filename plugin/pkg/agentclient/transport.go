package agentclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// TransportOptions is how one agent is reached: the TLS trust (skip verification, a private CA,
// a pinned certificate) and the DNS server that resolves its host name.
type TransportOptions struct {
	SkipVerify bool
	// CAPEM trusts the CA certificates it holds (instead of the system's) for https agents.
	CAPEM string
	// Pin is the SHA-256 fingerprint of the certificate the agent must present. Alone, it
	// replaces chain and host name verification (a self-signed agent certificate); with
	// CAPEM, the certificate must verify against the CA and match the pin.
	Pin []byte
	// Resolver is the DNS server (host:port) for the agent's host name; "" = the system's.
	Resolver string
}

// NewTransport builds the HTTP transport shared by the agents of one data source that need no
// certificate pin or resolver of their own.
func NewTransport(skipVerify bool, caPEM string, maxConns int) (*http.Transport, error) {
	return NewTransportFor(TransportOptions{SkipVerify: skipVerify, CAPEM: caPEM}, maxConns)
}

// NewTransportFor builds an HTTP transport for agents reached with these options.
func NewTransportFor(o TransportOptions, maxConns int) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.SkipVerify} // #nosec G402 -- opt-in setting
	if o.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(o.CAPEM)) {
			return nil, errors.New("tlsCACert: no PEM certificate found")
		}
		tlsCfg.RootCAs = pool
	}
	if o.Pin != nil {
		if len(o.Pin) != sha256.Size {
			return nil, fmt.Errorf("certificate pin: %d bytes, a SHA-256 fingerprint has %d", len(o.Pin), sha256.Size)
		}
		pin := bytes.Clone(o.Pin)
		// Without a CA the pin is the whole trust decision: the chain and host name checks are
		// skipped (the usual self-signed agent certificate) and VerifyConnection, which Go
		// runs either way, compares the leaf certificate with the pin.
		if o.CAPEM == "" {
			tlsCfg.InsecureSkipVerify = true // #nosec G402 -- replaced by the pin check below
		}
		tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &PinMismatchError{Want: pin}
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], pin) {
				return &PinMismatchError{Got: got[:], Want: pin}
			}
			return nil
		}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if o.Resolver != "" {
		dialer.Resolver = ResolverAt(o.Resolver)
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsCfg,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}

// ResolverAt is a DNS resolver that asks only the server at addr (host:port). Discovery looks
// SRV records up with it, and the transport of the agents found resolves their host names
// with it too.
func ResolverAt(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}}
}

// Refusing is a round tripper that fails every request with err: an agent that must not be
// asked as configured (a pinned certificate but a plain http:// URL).
type Refusing struct{ Err error }

// RoundTrip always fails.
func (r Refusing) RoundTrip(*http.Request) (*http.Response, error) { return nil, r.Err }

// PinMismatchError is a TLS handshake refused because the agent's certificate is not the pinned one.
type PinMismatchError struct {
	Got, Want []byte
}

func (e *PinMismatchError) Error() string {
	if e.Got == nil {
		return "the agent presented no certificate to compare with the pinned one"
	}
	return fmt.Sprintf("certificate SHA-256 %s does not match the pinned %s", models.FormatPin(e.Got), models.FormatPin(e.Want))
}

// TransportPool hands out one transport per distinct way of reaching agents (TLS options and
// resolver), so agents that share them share connections, and rebuilding the client list after
// a discovery refresh keeps the open connections.
type TransportPool struct {
	maxConns   int
	mu         sync.Mutex
	transports map[string]*http.Transport
}

// NewTransportPool creates an empty pool; maxConns bounds idle connections per host.
func NewTransportPool(maxConns int) *TransportPool {
	return &TransportPool{maxConns: maxConns, transports: map[string]*http.Transport{}}
}

// Get returns the transport for o, building it on first use.
func (p *TransportPool) Get(o TransportOptions) (*http.Transport, error) {
	caSum := sha256.Sum256([]byte(o.CAPEM))
	key := fmt.Sprintf("%t|%x|%x|%s", o.SkipVerify, caSum, o.Pin, o.Resolver)
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[key]; ok {
		return t, nil
	}
	t, err := NewTransportFor(o, p.maxConns)
	if err != nil {
		return nil, err
	}
	p.transports[key] = t
	return t, nil
}

// Close releases every transport's idle connections.
func (p *TransportPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}

package agentclient

// TLS trust decisions of the transport (private CA, pinned certificate, both) against real TLS
// listeners with certificates made here, and the messages a refused handshake becomes. The
// same settings against a real agent serving HTTPS, through the plugin executable, are in
// plugin/test/contract/tls_test.go.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/test/testpki"
)

// leaf is a server certificate for 127.0.0.1 signed by ca.
func leaf(t *testing.T, ca testpki.CA) tls.Certificate {
	der, key := ca.Issue(t, "agent")
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsListener serves 204 over TLS with cert.
func tlsListener(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point here
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, o TransportOptions, url string) error {
	t.Helper()
	tr, err := NewTransportFor(o, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestPrivateCAAndPinnedCertificate(t *testing.T) {
	ca, other := testpki.NewCA(t, "Flowmesh CA"), testpki.NewCA(t, "Someone else's CA")
	cert := leaf(t, ca)
	url := tlsListener(t, cert)
	pin := sha256.Sum256(cert.Certificate[0])
	wrongPin := sha256.Sum256([]byte("another certificate"))

	for name, c := range map[string]struct {
		o  TransportOptions
		ok bool
	}{
		"system roots only":           {TransportOptions{}, false},
		"the signing CA":              {TransportOptions{CAPEM: string(ca.PEM)}, true},
		"another CA":                  {TransportOptions{CAPEM: string(other.PEM)}, false},
		"pin alone (no chain check)":  {TransportOptions{Pin: pin[:]}, true},
		"wrong pin alone":             {TransportOptions{Pin: wrongPin[:]}, false},
		"CA and matching pin":         {TransportOptions{CAPEM: string(ca.PEM), Pin: pin[:]}, true},
		"CA and wrong pin":            {TransportOptions{CAPEM: string(ca.PEM), Pin: wrongPin[:]}, false},
		"matching pin but another CA": {TransportOptions{CAPEM: string(other.PEM), Pin: pin[:]}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := get(t, c.o, url); (err == nil) != c.ok {
				t.Errorf("error %v, want ok=%v", err, c.ok)
			}
		})
	}
	if _, err := NewTransportFor(TransportOptions{Pin: pin[:16]}, 1); err == nil {
		t.Error("a 16-byte pin was accepted")
	}
}

func TestRefusedHandshakesSayWhatToChange(t *testing.T) {
	ca, other := testpki.NewCA(t, "Flowmesh CA"), testpki.NewCA(t, "Someone else's CA")
	cert := leaf(t, ca)
	url := tlsListener(t, cert)
	wrongPin := sha256.Sum256([]byte("another certificate"))
	client := func(o TransportOptions, base string) *Client {
		tr, err := NewTransportFor(o, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		return New(models.AgentConfig{Name: "node-a", URL: base}, "secret", 5*time.Second, tr)
	}
	_, err := client(TransportOptions{CAPEM: string(other.PEM)}, url).Info(context.Background())
	expectError(t, err, KindTLS, "TLS: the certificate of "+url+" is not signed by a trusted CA (issued by CN=Flowmesh CA)", "secureJsonData.tlsCACert", "tlsPins")

	_, err = client(TransportOptions{Pin: wrongPin[:]}, url).Info(context.Background())
	expectError(t, err, KindTLS, "TLS: certificate pin mismatch for agent node-a: certificate SHA-256 "+models.FormatPin(sha256Of(cert)),
		"does not match the pinned "+models.FormatPin(wrongPin[:]), `update tlsPins["node-a"]`)

	// https:// to a plain HTTP listener, and the refusal of a pinned agent on http://
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	_, err = client(TransportOptions{}, "https://"+plain.Listener.Addr().String()).Info(context.Background())
	expectError(t, err, KindTLS, "answers plain HTTP, not HTTPS: use http:// in the URL, or enable TLS on the agent (http.tls)")
	refusing := New(models.AgentConfig{Name: "node-a", URL: plain.URL}, "secret", time.Second, Refusing{Err: ErrPinnedPlainHTTP})
	_, err = refusing.Info(context.Background())
	expectError(t, err, KindTLS, "its certificate is pinned (tlsPins) but its URL is plain http://")
}

func sha256Of(c tls.Certificate) []byte {
	sum := sha256.Sum256(c.Certificate[0])
	return sum[:]
}

func TestTransportPoolSharesTransportsPerWayOfReaching(t *testing.T) {
	pool := NewTransportPool(2)
	defer pool.Close()
	pin := sha256.Sum256([]byte("x"))
	a, _ := pool.Get(TransportOptions{})
	b, _ := pool.Get(TransportOptions{})
	c, _ := pool.Get(TransportOptions{Pin: pin[:]})
	d, _ := pool.Get(TransportOptions{Resolver: "127.0.0.1:53"})
	if a != b || a == c || a == d || c == d {
		t.Errorf("pool: same options must share, different ones must not (%p %p %p %p)", a, b, c, d)
	}
	if _, err := pool.Get(TransportOptions{CAPEM: "not a certificate"}); err == nil {
		t.Error("a bad CA was accepted")
	}
}

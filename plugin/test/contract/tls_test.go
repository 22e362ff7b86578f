package contract

// TLS between the data source and an agent, end to end: a real agent serves HTTPS
// (http.tls in its configuration) with a certificate from a private CA made here; the built
// plugin executable trusts that CA, or pins the agent's certificate, and refuses another CA or
// another certificate with a notice that names the agent and the setting to change.

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/test/testpki"
)

// issue writes an agent certificate for 127.0.0.1 and its key (PEM files) and returns the
// certificate's SHA-256 fingerprint.
func issue(t *testing.T, ca testpki.CA, dir, name string) (certFile, keyFile string, fingerprint [32]byte) {
	t.Helper()
	der, key := ca.Issue(t, name)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, sha256.Sum256(der)
}

// serveTLS starts a real agent over db with http.tls from its config file.
func serveTLS(t *testing.T, h *harness, name, db, certFile, keyFile string, ca []byte) *agentProc {
	t.Helper()
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := fmt.Sprintf("node: %s\nlog_level: warn\nhttp:\n  listen: %s\n  token: %s\n  tls: { cert: %s, key: %s }\n", name, addr, sharedToken, certFile, keyFile)
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{Name: name, URL: "https://" + addr, Token: sharedToken, log: &bytes.Buffer{}}
	p.cmd = exec.Command("node", h.cli, "serve", "--config", config, "--db", db)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(p.cmd, 10*time.Second) })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if !p.waitHealthy(client) {
		t.Fatalf("agent %s did not answer https /health:\n%s", name, p.log.String())
	}
	return p
}

func TestTLSPrivateCAOrPinnedCertificateThroughTheExecutable(t *testing.T) {
	h := need(t)
	dir := t.TempDir()
	ca, otherCA := testpki.NewCA(t, "Flowmesh test CA"), testpki.NewCA(t, "Another CA")
	certFile, keyFile, fingerprint := issue(t, ca, dir, "tls-agent")
	_, _, otherFingerprint := issue(t, ca, dir, "another-agent")

	db := filepath.Join(dir, "tls-agent.duckdb")
	if _, err := h.node(180*time.Second, append(append([]string{"import"}, h.captures[0]...), "--db", db, "--node", "tls-agent", "--log-level", "warn")...); err != nil {
		t.Fatal(err)
	}
	agent := serveTLS(t, h, "tls-agent", db, certFile, keyFile, ca.PEM)
	plain := h.Union[1]
	o := newOracle(t, h.Union[0]) // the same capture as tls-agent's
	want := o.total("bytes")
	client := launch(t, sharedExecutable(t, h))
	pin := func(sum [32]byte) map[string]any {
		return map[string]any{"tlsPins": map[string]string{"tls-agent": models.FormatPin(sum[:])}}
	}
	withCA := func(s *dsSettings, caPEM []byte) *dsSettings {
		s.secure = map[string]string{"token": sharedToken, "tlsCACert": string(caPEM)}
		return s
	}

	cases := []struct {
		name     string
		settings *dsSettings
		refusal  string // "" = the agent answers
	}{
		{"the private CA", withCA(settingsFor([]*agentProc{agent}, nil), ca.PEM), ""},
		{"another CA", withCA(settingsFor([]*agentProc{agent}, nil), otherCA.PEM),
			"agent tls-agent: TLS: the certificate of " + agent.URL + " is not signed by a trusted CA (issued by CN=Flowmesh test CA): set the CA certificate (secureJsonData.tlsCACert)"},
		{"no CA (system roots)", settingsFor([]*agentProc{agent}, nil), "is not signed by a trusted CA"},
		{"the pinned certificate", settingsFor([]*agentProc{agent}, pin(fingerprint)), ""},
		{"the pin and the CA", withCA(settingsFor([]*agentProc{agent}, pin(fingerprint)), ca.PEM), ""},
		{"another certificate's pin", settingsFor([]*agentProc{agent}, pin(otherFingerprint)),
			"agent tls-agent: TLS: certificate pin mismatch for agent tls-agent: certificate SHA-256 " + models.FormatPin(fingerprint[:]) +
				" does not match the pinned " + models.FormatPin(otherFingerprint[:]) + `; if the agent got a new certificate, update tlsPins["tls-agent"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := checkHealth(t, client, c.settings)
			dr := run(t, client, c.settings, o.tr, map[string]any{"queryType": "summary"})
			if c.refusal == "" {
				if res.Status.String() != "OK" {
					t.Errorf("health %v: %s", res.Status, res.Message)
				}
				if got := floatAt(field(t, mustOK(t, dr)[0], "bytes"), 0); got != want {
					t.Errorf("summary over HTTPS: %v bytes, want %v", got, want)
				}
				return
			}
			if res.Status.String() == "OK" || !strings.Contains(res.Message, strings.TrimPrefix(c.refusal, "agent tls-agent: ")) {
				t.Errorf("health %v: %s\nwant it to contain %q", res.Status, res.Message, c.refusal)
			}
			if dr.Error == nil || !strings.Contains(dr.Error.Error(), c.refusal) {
				t.Errorf("query error %v, want it to contain %q", dr.Error, c.refusal)
			}
		})
	}

	// next to a plain-HTTP agent, a refused TLS agent is a notice naming it; the other answers
	s := settingsFor([]*agentProc{agent, plain}, pin(otherFingerprint))
	frames := mustOK(t, run(t, client, s, o.tr, map[string]any{"queryType": "summary"}))
	var texts []string
	for _, n := range notices(frames) {
		texts = append(texts, n.Text)
	}
	if !strings.Contains(joinNotices(texts), "Partial data: 1 of 2 agents missing (tls-agent). agent tls-agent: TLS: certificate pin mismatch for agent tls-agent") {
		t.Errorf("notices %q", texts)
	}
}

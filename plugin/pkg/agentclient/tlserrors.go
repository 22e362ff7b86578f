package agentclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// KindTLS is a TLS failure: an untrusted or mismatched certificate, or the wrong scheme.
const KindTLS Kind = "tls"

// ErrPinnedPlainHTTP refuses to ask an agent over plain HTTP when its certificate is pinned.
var ErrPinnedPlainHTTP = errors.New("its certificate is pinned (tlsPins) but its URL is plain http://: use https:// (the pin would protect nothing)")

// describeTLSError turns a TLS failure into what to change, naming the setting; ok is false
// for errors that are not about TLS.
func describeTLSError(err error, agent, base string) (message string, ok bool) {
	var pin *PinMismatchError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &pin):
		return fmt.Sprintf("TLS: certificate pin mismatch for agent %s: %v; if the agent got a new certificate, update tlsPins[%q]", agent, pin, agent), true
	case errors.Is(err, ErrPinnedPlainHTTP):
		return fmt.Sprintf("TLS: agent %s: %v", agent, err), true
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("TLS: the certificate of %s is not signed by a trusted CA (%s): set the CA certificate (secureJsonData.tlsCACert) "+
			"to the CA that signed it, or pin the agent's certificate (tlsPins)", base, issuer(unknownCA.Cert)), true
	case errors.As(err, &hostname):
		return fmt.Sprintf("TLS: the certificate of %s is not valid for %q (it is for %s): use a host name or address it lists in the URL, "+
			"or reissue it with that name", base, hostname.Host, certNames(hostname.Certificate)), true
	case errors.As(err, &invalid):
		return fmt.Sprintf("TLS: the certificate of %s is invalid: %v", base, invalid), true
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("TLS: %s answers plain HTTP, not HTTPS: use http:// in the URL, or enable TLS on the agent (http.tls)", base), true
	case strings.Contains(err.Error(), "malformed HTTP response") && strings.HasPrefix(base, "http://"):
		return fmt.Sprintf("%s did not answer HTTP: if the agent serves HTTPS (http.tls), use https:// in the URL", base), true
	case strings.Contains(err.Error(), "tls: "):
		return fmt.Sprintf("TLS: handshake with %s failed: %v", base, unwrapURLError(err)), true
	}
	return "", false
}

func issuer(c *x509.Certificate) string {
	if c == nil {
		return "unknown issuer"
	}
	return "issued by " + c.Issuer.String()
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no names"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "CN " + c.Subject.CommonName + " and no subject alternative names"
	}
	return strings.Join(names, ", ")
}

func unwrapURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

package models

import (
	"net/url"
	"regexp"
	"strings"
)

// Agent URLs may carry credentials (http://user:password@host:9477, for an agent behind a
// proxy that wants basic auth). Whatever shows a URL or a message built around one (panel
// notices, the health check, resources, logs, settings errors) shows it redacted.

// redacted replaces the user information of a URL.
const redacted = "xxxxx"

var userinfoPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@`)

// RedactURL returns raw with its user information (user and password) replaced by xxxxx.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfoPattern.ReplaceAllString(raw, "${1}"+redacted+"@")
	}
	if u.User == nil {
		return raw
	}
	u.User = url.User(redacted)
	return u.String()
}

// RedactCredentials removes from text every form in which the credentials of the agent URL
// rawURL may have been written into it: as typed, URL-escaped, or as net/http prints them
// (user:***@).
func RedactCredentials(text, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return text
	}
	forms := []string{u.User.String(), u.User.Username() + ":***", u.User.Username()}
	if start, end := strings.Index(rawURL, "://"), strings.LastIndex(rawURL, "@"); start >= 0 && end > start+3 {
		forms = append([]string{rawURL[start+3 : end]}, forms...)
	}
	for _, form := range forms {
		if form != "" {
			text = strings.ReplaceAll(text, form+"@", redacted+"@")
		}
	}
	if password, ok := u.User.Password(); ok && len(password) >= 4 {
		text = strings.ReplaceAll(text, password, redacted)
	}
	return text
}

package source

import (
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a credential in a URL or message.
const redacted = "xxxxx"

// RedactURL hides the credentials a URL carries: the password of
// "scheme://user:password@host/…", and for http(s) a lone user name too
// (hosts take tokens as the user name). It works on the text, so a URL
// net/url refuses (an unescaped character in the password) is redacted as
// well; when in doubt it hides more, never less. Every URL that reaches a
// log, an error, a metric or a record goes through it.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s // a path or scp-like "user@host:path": no password
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	user, _, hasPass := strings.Cut(userinfo, ":")
	switch {
	case hasPass:
		userinfo = user + ":" + redacted
	case isHTTP(scheme):
		userinfo = redacted
	}
	return scheme + "://" + userinfo + rest[at:]
}

func isHTTP(scheme string) bool {
	s := strings.ToLower(scheme)
	return s == "http" || s == "https"
}

// urlSecrets are the strings of s that RedactURL hides, as written and
// percent-decoded, for scrubbing messages that quote the URL in any form.
func urlSecrets(s string) []string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	var secret string
	user, pass, hasPass := strings.Cut(rest[:at], ":")
	switch {
	case hasPass:
		secret = pass
	case isHTTP(scheme):
		secret = user
	}
	if secret == "" {
		return nil
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if dec, err := url.PathUnescape(secret); err == nil {
		forms = append(forms, dec, url.QueryEscape(dec), url.PathEscape(dec))
		// As net/url writes a password back into a URL.
		_, pass, _ := strings.Cut(url.UserPassword("u", dec).String(), ":")
		forms = append(forms, pass)
	}
	var out []string
	for _, f := range forms {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	// Longest first: a form containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactedError is an error whose message has the secrets of a URL
// replaced; errors.Is and errors.As still reach the error it wraps.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// redactErr scrubs the secrets of rawURL from err's message: go-git and
// net/url quote the URL they were given in their errors.
func redactErr(err error, rawURL string) error {
	secrets := urlSecrets(rawURL)
	if err == nil || len(secrets) == 0 {
		return err
	}
	return &redactedError{err: err, secrets: secrets}
}

package source

import (
	"net/url"
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
	out := []string{secret}
	if dec, err := url.PathUnescape(secret); err == nil && dec != secret {
		out = append(out, dec)
	}
	if enc := url.QueryEscape(secret); enc != secret {
		out = append(out, enc)
	}
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

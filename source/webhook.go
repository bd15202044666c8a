package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
)

// WebhookSecretHeader carries the shared secret of a webhook request.
// GitLab's X-Gitlab-Token and GitHub/Gitea's X-Hub-Signature-256 (HMAC-SHA256
// of the body) are accepted as well.
const WebhookSecretHeader = "X-Rackctl-Webhook-Secret"

// maxWebhookBody bounds a webhook body (GitHub caps payloads at 25 MB, but
// rackctl reads none of it: only the HMAC needs it).
const maxWebhookBody = 1 << 20

// WebhookHandler returns a handler that calls Trigger on POST (answering 202
// Accepted) and refuses other methods (405). When GitConfig.WebhookSecret is
// set, a request must prove it (401 otherwise); secrets are compared in
// constant time. The body is otherwise ignored: the source fetches the
// branch it follows whatever the event says.
func (g *Git) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Bounded: the HMAC covers the whole body, so a longer one is
		// refused rather than cut. The server's read timeout bounds the time.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if len(g.secret) > 0 && !webhookAuthorized(g.secret, r.Header, body) {
			g.log.Warn("webhook refused: bad or missing secret", "remote", r.RemoteAddr)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		g.log.Debug("webhook: fetch requested", "remote", r.RemoteAddr)
		g.Trigger()
		w.WriteHeader(http.StatusAccepted)
	})
}

func webhookAuthorized(secret []byte, h http.Header, body []byte) bool {
	for _, name := range []string{WebhookSecretHeader, "X-Gitlab-Token"} {
		if tok := h.Get(name); tok != "" {
			// Hash both so the comparison time does not depend on length.
			a, b := sha256.Sum256([]byte(tok)), sha256.Sum256(secret)
			return subtle.ConstantTimeCompare(a[:], b[:]) == 1
		}
	}
	if sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256="); ok {
		got, err := hex.DecodeString(sig)
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		return hmac.Equal(got, mac.Sum(nil))
	}
	return false
}

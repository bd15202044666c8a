package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rackctl/rackctl/watch"
)

// CSRFCookie holds the page's anti-forgery token: POST /api/approve must
// send the same value in the CSRFHeader (double submit), which a page of
// another site can neither read nor set.
const (
	CSRFCookie = "rackctl_csrf"
	CSRFHeader = "X-Rackctl-CSRF"
)

// maxApproveBody bounds POST /api/approve's body ({"commit": "…"}).
const maxApproveBody = 4 << 10

// ApproveResult is POST /api/approve's answer.
type ApproveResult struct {
	Approved       string `json:"approved,omitempty"` // the full commit approved
	Error          string `json:"error,omitempty"`
	ApproveCommand string `json:"approve_command,omitempty"` // the CLI way, when the web way is refused
}

// ApproveEnabled tells whether approving from the web is configured.
func (s *Server) ApproveEnabled() bool { return len(s.cfg.ApproveToken) > 0 }

// CSRFToken returns the request's anti-forgery token, setting a new one
// in a cookie when the request has none; the page embeds it.
func CSRFToken(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(rw, &http.Cookie{Name: CSRFCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

// approve releases a held commit: POST /api/approve with
// `Authorization: Bearer TOKEN`, the CSRF header and {"commit": "…"}.
// Checks run cheapest first; each refusal says what to do.
func (s *Server) approve(rw http.ResponseWriter, r *http.Request) {
	if !s.ApproveEnabled() {
		writeApprove(rw, http.StatusForbidden, ApproveResult{
			Error:          "approving from the web is off: set watch.approveTokenFile in the management node config, or approve on the management node",
			ApproveCommand: "rackctl approve COMMIT"})
		return
	}
	if err := sameOrigin(r); err != nil {
		writeApprove(rw, http.StatusForbidden, ApproveResult{Error: "refused as a possible cross-site request: " + err.Error()})
		return
	}
	if !s.tokenMatches(r.Header.Get("Authorization")) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="rackctl"`)
		writeApprove(rw, http.StatusUnauthorized, ApproveResult{Error: "missing or wrong approve token (the content of the file watch.approveTokenFile names)"})
		return
	}
	var req struct {
		Commit string `json:"commit"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxApproveBody)).Decode(&req); err != nil {
		writeApprove(rw, http.StatusBadRequest, ApproveResult{Error: `want a JSON body {"commit": "…"}: ` + err.Error()})
		return
	}
	s.approveHeld(rw, strings.TrimSpace(req.Commit))
}

// approveHeld approves commit if it is the one held now: an approval
// names what the operator saw, never a commit the loop does not hold.
func (s *Server) approveHeld(rw http.ResponseWriter, commit string) {
	doc, err := s.Status()
	if err != nil {
		writeApprove(rw, http.StatusInternalServerError, ApproveResult{Error: "reading the watch records: " + err.Error()})
		return
	}
	held := ""
	for _, h := range doc.Held {
		if commit != "" && strings.HasPrefix(h.Commit, commit) {
			held = h.Commit
		}
	}
	if held == "" {
		writeApprove(rw, http.StatusConflict, ApproveResult{Error: "commit " + commit + " is not held (reload the page: it may have been applied or replaced)"})
		return
	}
	full, err := watch.Approve(s.cfg.StateDir, held)
	if err != nil {
		writeApprove(rw, http.StatusInternalServerError, ApproveResult{Error: "approve " + held + ": " + err.Error()})
		return
	}
	s.log.Info("approved from the web", "commit", full)
	s.Publish(Event{Type: EventApproval, Commit: full})
	writeApprove(rw, http.StatusOK, ApproveResult{Approved: full})
}

// sameOrigin refuses a request a browser sent for another site: by
// Sec-Fetch-Site, Origin, and the double-submitted CSRF token.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errors.New("Sec-Fetch-Site is " + site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("Origin " + o + " is not this server (" + r.Host + ")")
		}
	}
	c, err := r.Cookie(CSRFCookie)
	if err != nil || c.Value == "" {
		return errors.New("no CSRF cookie: load the page first")
	}
	if subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.Header.Get(CSRFHeader))) != 1 {
		return errors.New("the " + CSRFHeader + " header does not match the page's token")
	}
	return nil
}

// tokenMatches compares in constant time; hashing first makes the
// comparison's time independent of the lengths too.
func (s *Server) tokenMatches(authorization string) bool {
	got, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256(s.cfg.ApproveToken)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func writeApprove(rw http.ResponseWriter, code int, res ApproveResult) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(res)
}

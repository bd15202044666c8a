package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
)

const (
	heldCommitID = "0123456789abcdef0123456789abcdef01234567"
	testToken    = "approve-token-of-the-test"
	testCSRF     = "csrf-token-of-the-page-0123456789abcdef"
)

// approveServer holds heldCommitID (watch-events.jsonl, no loop: the last
// record is the hold) and approves with token (nil: off).
func approveServer(t *testing.T, token []byte) (*Server, state.Dir) {
	t.Helper()
	dir := t.TempDir()
	srv, err := New(Config{StateDir: dir, Spec: testSpec, ApproveToken: token,
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	d := state.New(dir)
	if err := d.AppendWatchEvent(state.WatchEvent{Time: time.Now(), Outcome: "held", Commit: heldCommitID, Reason: "over limit"}); err != nil {
		t.Fatal(err)
	}
	return srv, d
}

// approveRequest is what the page sends; edit changes it for a case.
func approveRequest(body string, edit func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://rack.example:9747/api/approve", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("Origin", "http://rack.example:9747")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set(CSRFHeader, testCSRF)
	r.AddCookie(&http.Cookie{Name: CSRFCookie, Value: testCSRF})
	if edit != nil {
		edit(r)
	}
	return r
}

func TestApprove(t *testing.T) {
	body := `{"commit": "` + heldCommitID[:12] + `"}`
	cases := map[string]struct {
		token    []byte
		body     string
		edit     func(r *http.Request)
		code     int
		approved bool
		msg      string
	}{
		"approved":                {token: []byte(testToken), body: body, code: http.StatusOK, approved: true},
		"read-only without token": {body: body, code: http.StatusForbidden, msg: "approving from the web is off"},
		"no token":                {token: []byte(testToken), body: body, edit: func(r *http.Request) { r.Header.Del("Authorization") }, code: http.StatusUnauthorized, msg: "missing or wrong approve token"},
		"wrong token": {token: []byte(testToken), body: body, code: http.StatusUnauthorized, msg: "missing or wrong approve token",
			edit: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken+"x") }},
		"token prefix": {token: []byte(testToken), body: body, code: http.StatusUnauthorized, msg: "missing or wrong approve token",
			edit: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken[:5]) }},
		"cross-site fetch": {token: []byte(testToken), body: body, code: http.StatusForbidden, msg: "Sec-Fetch-Site is cross-site",
			edit: func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
		"other origin": {token: []byte(testToken), body: body, code: http.StatusForbidden, msg: "is not this server",
			edit: func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }},
		"no CSRF header": {token: []byte(testToken), body: body, code: http.StatusForbidden, msg: "does not match",
			edit: func(r *http.Request) { r.Header.Del(CSRFHeader) }},
		"no CSRF cookie": {token: []byte(testToken), body: body, code: http.StatusForbidden, msg: "no CSRF cookie",
			edit: func(r *http.Request) { r.Header.Del("Cookie") }},
		"commit not held": {token: []byte(testToken), body: `{"commit": "fedcba9876"}`, code: http.StatusConflict, msg: "is not held"},
		"empty commit":    {token: []byte(testToken), body: `{"commit": ""}`, code: http.StatusConflict, msg: "is not held"},
		"not JSON":        {token: []byte(testToken), body: `commit=x`, code: http.StatusBadRequest, msg: "want a JSON body"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv, d := approveServer(t, c.token)
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, approveRequest(c.body, c.edit))
			var res ApproveResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatalf("%d %s: not JSON: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != c.code || !strings.Contains(res.Error, c.msg) {
				t.Errorf("%d %+v, want %d and an error with %q", rec.Code, res, c.code, c.msg)
			}
			if got := d.Approved(heldCommitID); got != c.approved {
				t.Errorf("approval recorded: %v, want %v", got, c.approved)
			}
			if c.approved && res.Approved != heldCommitID {
				t.Errorf("approved %q, want the full commit", res.Approved)
			}
			if strings.Contains(rec.Body.String(), testToken) {
				t.Errorf("the answer shows the token: %s", rec.Body)
			}
		})
	}
}

// The page's CSRF token is set once in a cookie the page's script cannot
// read, and kept.
func TestCSRFToken(t *testing.T) {
	rec := httptest.NewRecorder()
	tok := CSRFToken(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookies := rec.Result().Cookies()
	if len(tok) < 32 || len(cookies) != 1 || cookies[0].Value != tok || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("token %q cookies %+v", tok, cookies)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	if again := CSRFToken(rec, r); again != tok || len(rec.Result().Cookies()) != 0 {
		t.Errorf("a second page load changed the token: %q", again)
	}
}

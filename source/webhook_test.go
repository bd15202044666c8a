package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhookHandler(t *testing.T) {
	const body = `{"ref":"refs/heads/main"}`
	hubSig := func(secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	tests := map[string]struct {
		secret      string
		method      string
		header      map[string]string
		wantStatus  int
		wantTrigger bool
		body        string // default body
	}{
		"post, no secret configured":  {method: http.MethodPost, wantStatus: http.StatusAccepted, wantTrigger: true},
		"get refused":                 {method: http.MethodGet, wantStatus: http.StatusMethodNotAllowed},
		"put refused":                 {method: http.MethodPut, secret: "s", header: map[string]string{WebhookSecretHeader: "s"}, wantStatus: http.StatusMethodNotAllowed},
		"good secret":                 {method: http.MethodPost, secret: "s3cret", header: map[string]string{WebhookSecretHeader: "s3cret"}, wantStatus: http.StatusAccepted, wantTrigger: true},
		"bad secret":                  {method: http.MethodPost, secret: "s3cret", header: map[string]string{WebhookSecretHeader: "s3crex"}, wantStatus: http.StatusUnauthorized},
		"missing secret":              {method: http.MethodPost, secret: "s3cret", wantStatus: http.StatusUnauthorized},
		"secret prefix is not enough": {method: http.MethodPost, secret: "s3cret", header: map[string]string{WebhookSecretHeader: "s3c"}, wantStatus: http.StatusUnauthorized},
		"gitlab token":                {method: http.MethodPost, secret: "s3cret", header: map[string]string{"X-Gitlab-Token": "s3cret"}, wantStatus: http.StatusAccepted, wantTrigger: true},
		"github hmac":                 {method: http.MethodPost, secret: "s3cret", header: map[string]string{"X-Hub-Signature-256": hubSig("s3cret")}, wantStatus: http.StatusAccepted, wantTrigger: true},
		"github hmac, wrong secret":   {method: http.MethodPost, secret: "s3cret", header: map[string]string{"X-Hub-Signature-256": hubSig("other")}, wantStatus: http.StatusUnauthorized},
		"github hmac not hex":         {method: http.MethodPost, secret: "s3cret", header: map[string]string{"X-Hub-Signature-256": "sha256=zz"}, wantStatus: http.StatusUnauthorized},
		"sha1 signature only":         {method: http.MethodPost, secret: "s3cret", header: map[string]string{"X-Hub-Signature": "sha1=00"}, wantStatus: http.StatusUnauthorized},
		"body over the limit":         {method: http.MethodPost, body: strings.Repeat("x", maxWebhookBody+1), wantStatus: http.StatusRequestEntityTooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g, err := NewGit(GitConfig{URL: "u", Dir: "d", WebhookSecret: []byte(tc.secret), Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			b := body
			if tc.body != "" {
				b = tc.body
			}
			req := httptest.NewRequest(tc.method, "/hook", strings.NewReader(b))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			g.WebhookHandler().ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := len(g.trigger) == 1; got != tc.wantTrigger {
				t.Fatalf("triggered = %v, want %v", got, tc.wantTrigger)
			}
			if rec.Code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow header %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// End to end over loopback HTTP: a push, then the webhook, then the event.
func TestWebhookTriggersFetch(t *testing.T) {
	r := newTestRepo(t)
	r.commit("v1\n", "first", nil)
	g, ch, synced := r.source(t, GitConfig{WebhookSecret: []byte("s3cret")})
	nextRevision(t, ch, gitWait)
	waitSync(t, synced)

	srv := httptest.NewServer(g.WebhookHandler())
	t.Cleanup(srv.Close)
	post := func(secret string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(WebhookSecretHeader, secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	c2 := r.commit("v2\n", "second", nil)
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("bad secret: status %d", code)
	}
	none(t, ch, 300*time.Millisecond)
	sent := time.Now()
	if code := post("s3cret"); code != http.StatusAccepted {
		t.Fatalf("status %d", code)
	}
	if rev := nextRevision(t, ch, gitWait); rev.Commit != c2 {
		t.Fatalf("got %s, want %s", rev.Commit, c2)
	}
	t.Logf("LATENCY git webhook: POST→event %s", time.Since(sent).Round(time.Millisecond))
}

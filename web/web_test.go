package web

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
)

// The page's behaviour in a browser is cmd/rackctl TestWebViewBrowser
// (headless Chromium over a watched ipmi_sim rack); these tests check what
// the handler serves.

func newHandler(t *testing.T, token []byte, readOnly string) http.Handler {
	t.Helper()
	srv, err := api.New(api.Config{StateDir: t.TempDir(), ApproveToken: token,
		Spec:    func() *schema.Rack { return &schema.Rack{Name: "r1"} },
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := Handler(Config{API: srv, ReadOnlyReason: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestPage(t *testing.T) {
	cases := map[string]struct {
		token    []byte
		readOnly string
		approve  bool
		text     string
	}{
		"read-only without a token": {text: "Read-only: approving from this page is off"},
		"approve with a token":      {token: []byte("t"), approve: true, text: `id="token"`},
		"serve is read-only":        {token: []byte("t"), readOnly: "no loop here", text: "no loop here"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec := get(t, newHandler(t, c.token, c.readOnly), "/")
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, c.text) {
				t.Fatalf("%d, want 200 and %q:\n%s", rec.Code, c.text, body)
			}
			if got := strings.Contains(body, `name="rackctl-approve" content="on"`); got != c.approve {
				t.Errorf("approve on: %v, want %v", got, c.approve)
			}
			if strings.Contains(body, `id="token"`) != c.approve {
				t.Errorf("token field shown: %v, want %v", !c.approve, c.approve)
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 || cookies[0].Name != api.CSRFCookie || !strings.Contains(body, `content="`+cookies[0].Value+`"`) {
				t.Errorf("cookies %+v: want the CSRF cookie, its value in the page", cookies)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	h := newHandler(t, nil, "")
	for path, ctype := range map[string]string{"/ui/app.js": "text/javascript", "/ui/style.css": "text/css"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) || rec.Body.Len() < 500 {
			t.Errorf("%s: %d %q %d bytes", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
	}
	if rec := get(t, h, "/ui/missing.js"); rec.Code != http.StatusNotFound {
		t.Errorf("a missing asset: %d", rec.Code)
	}
}

// Air-gapped: no asset names another host (no CDN, no web font), and the
// script never writes HTML from data.
func TestAssetsSelfContained(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" { // the SVG namespace name, never fetched
				t.Errorf("%s names another host: %s", path, m)
			}
		}
		if strings.Contains(string(b), "innerHTML") || strings.Contains(string(b), "insertAdjacentHTML") {
			t.Errorf("%s writes HTML: set text instead", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

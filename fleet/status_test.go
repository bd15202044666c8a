package fleet

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
)

func TestParseEndpoints(t *testing.T) {
	tests := map[string]struct {
		src  string
		want string // the diagnostics, one per line; "" for a valid file
	}{
		"yaml":              {src: "racks:\n  - name: a\n    url: http://127.0.0.1:9747\n  - {name: b, url: \"https://b.example.net/rackctl/\"}\n"},
		"json":              {src: `{"racks": [{"name": "a", "url": "http://[::1]:9747"}]}`},
		"empty list":        {src: "racks: []\n", want: "f.yaml:1:1: racks: is empty: list at least one rack (racks: [{name: ..., url: ...}])"},
		"top-level list":    {src: "- {name: a, url: http://x}\n", want: "f.yaml:1:1: want a mapping at the top of the document"},
		"unknown field":     {src: "racks:\n  - {name: a, url: http://x, token: t}\n", want: "f.yaml:2:30: racks[0].token: unknown field"},
		"duplicate name":    {src: "racks:\n  - {name: a, url: http://x}\n  - {name: a, url: http://y}\n", want: `f.yaml:3:6: racks[1].name: duplicate rack "a" (also racks[0], line 2)`},
		"bad name":          {src: "racks:\n  - {name: A_1, url: http://x}\n", want: "f.yaml:2:6: racks[0].name: \"A_1\" is not a valid rack name (want a lower-case DNS label: a-z, 0-9 and -, at most 63 characters)"},
		"not http":          {src: "racks:\n  - {name: a, url: ftp://x}\n", want: "f.yaml:2:15: racks[0].url: \"ftp://x\" is not an http or https URL (want e.g. http://10.1.0.2:9747)"},
		"no host":           {src: "racks:\n  - {name: a, url: \"http:///api\"}\n", want: "f.yaml:2:15: racks[0].url: has no host (want e.g. http://10.1.0.2:9747)"},
		"query":             {src: "racks:\n  - {name: a, url: \"http://x/?a=1\"}\n", want: "f.yaml:2:15: racks[0].url: has a query or fragment: give the listener's base URL; /api/status is added"},
		"credentials in it": {src: "racks:\n  - {name: a, url: \"http://u:hunter2@x\"}\n", want: "f.yaml:2:15: racks[0].url: holds credentials: the API needs none, and the file is not a place for secrets"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			eps, err := ParseEndpoints("f.yaml", []byte(tc.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if tc.want == "" && (len(eps) == 0 || eps[0].Name != "a") {
				t.Errorf("endpoints %+v", eps)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("a password in the URL is echoed: %s", got)
			}
		})
	}
	eps, _ := ParseEndpoints("f.yaml", []byte(tests["yaml"].src))
	if u := eps[1].StatusURL(); u != "https://b.example.net/rackctl/api/status" {
		t.Errorf("status URL %s", u)
	}
}

// hangingServer accepts GET /api/status and never answers until the
// client gives up; allIn is closed once n requests are waiting at the
// same time, which only a client asking all racks at once reaches.
type hangingServer struct {
	n      int
	mu     sync.Mutex
	inside int
	allIn  chan struct{}
}

func (h *hangingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.inside++
	if h.inside == h.n {
		close(h.allIn)
	}
	h.mu.Unlock()
	<-r.Context().Done()
}

// Query asks every rack at once: three racks that never answer are all
// waited for together, each bounded by the timeout and reported
// unreachable, while the rack that answers is read. The racks here are
// net/http servers on loopback standing in for `rackctl watch` (whose real
// API the cmd/rackctl fleet test queries): what is tested is the client.
func TestQueryParallel(t *testing.T) {
	doc := api.RackStatus{
		FormatVersion: api.FormatVersion, Rack: "a",
		Watch:       &api.WatchState{Running: true, LastApplied: "0123456789abcdef0123"},
		Held:        []api.HeldCommit{{Commit: "fedcba9876543210"}},
		Summary:     api.Summary{Total: 5, OK: 2, Failed: 1, Unreachable: 1, Unknown: 1},
		Observation: api.Observation{State: api.ObservationObserved},
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(ok.Close)
	hang := &hangingServer{n: 3, allIn: make(chan struct{})}
	slow := httptest.NewServer(hang)
	t.Cleanup(slow.Close)
	closed := closedPort(t)

	eps := []Endpoint{
		{Name: "h1", URL: slow.URL}, {Name: "a", URL: ok.URL + "/"}, {Name: "h2", URL: slow.URL},
		{Name: "gone", URL: "http://" + closed}, {Name: "h3", URL: slow.URL}, {Name: "wrong", URL: ok.URL + "/prefix"},
	}
	const timeout = time.Second
	start := time.Now()
	got := Query(context.Background(), &http.Client{}, eps, timeout)
	took := time.Since(start)

	select {
	case <-hang.allIn:
	default:
		t.Errorf("the three hanging racks were never asked at the same time (%d at most): queries are not parallel", hang.inside)
	}
	// Loose: serial queries take the sum, 3s; parallel ones about 1s.
	if took >= 3*timeout {
		t.Errorf("Query took %s with three racks hanging for %s each: the sum, not the slowest", took, timeout)
	}
	for i, r := range got {
		if r.Name != eps[i].Name {
			t.Fatalf("result %d is %s, want %s (endpoint order)", i, r.Name, eps[i].Name)
		}
	}
	for _, i := range []int{0, 2, 4} {
		if r := got[i]; r.Reachable || !strings.Contains(r.Error, "no answer within 1s") || r.Nodes != nil || r.Commit != "" {
			t.Errorf("%s: %+v, want unreachable with no answer within 1s, nothing else filled", r.Name, r)
		}
	}
	if r := got[3]; r.Reachable || !strings.Contains(r.Error, "connection refused") {
		t.Errorf("gone: %+v, want unreachable, connection refused", r)
	}
	if r := got[5]; r.Reachable || !strings.Contains(r.Error, "404") {
		t.Errorf("wrong: %+v, want unreachable with the 404", r)
	}
	r := got[1]
	want := NodeCounts{Total: 5, OK: 2, Failed: 1, Other: 2}
	if !r.Reachable || r.Rack != "a" || r.Commit != doc.Watch.LastApplied || r.Nodes == nil || *r.Nodes != want ||
		len(r.Held) != 1 || r.Held[0] != "fedcba9876543210" || r.Observation != api.ObservationObserved {
		t.Errorf("a: %+v nodes %+v, want reachable, its commit, %+v, one held", r, r.Nodes, want)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A document that is not one rackctl can read makes the rack unreachable,
// with why: a body over MaxStatusSize, another major format, not JSON.
func TestQueryRefusesDocument(t *testing.T) {
	tests := map[string]struct {
		write func(w http.ResponseWriter)
		want  string
	}{
		"too large": {write: func(w http.ResponseWriter) {
			w.Write([]byte(strings.Repeat(" ", MaxStatusSize+1)))
		}, want: "body over 64 MiB"},
		"format 2": {write: func(w http.ResponseWriter) {
			w.Write([]byte(`{"format_version": "2.0", "rack": "a"}`))
		}, want: `format_version "2.0", want 1.x`},
		"no format": {write: func(w http.ResponseWriter) { w.Write([]byte(`{"rack": "a"}`)) }, want: `format_version "", want 1.x`},
		"not json":  {write: func(w http.ResponseWriter) { w.Write([]byte("<html>")) }, want: "not a status document"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { tc.write(w) }))
			t.Cleanup(srv.Close)
			got := Query(context.Background(), &http.Client{}, []Endpoint{{Name: "a", URL: srv.URL}}, 10*time.Second)
			if r := got[0]; r.Reachable || !strings.Contains(r.Error, tc.want) || r.Nodes != nil {
				t.Errorf("%+v, want unreachable: %s", r, tc.want)
			}
		})
	}
}

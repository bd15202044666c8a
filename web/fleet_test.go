package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/fleet"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
)

// The racks of these tests are real rackctl API servers (api.Server's
// handler) on loopback; only their node observation is handed in, as in
// package api's tests. A rack that hangs and one that answers garbage are
// plain loopback servers.

// rackAPI serves a rack of the named nodes, node 0 ok and the others
// unreachable, observed once; hits counts its GET /api/status.
func rackAPI(t testing.TB, rack string, nodes ...string) (url string, hits *atomic.Int32) {
	t.Helper()
	spec := &schema.Rack{Name: rack}
	st := &view.Status{FormatVersion: "1.0", Rack: rack}
	for i, n := range nodes {
		spec.Nodes = append(spec.Nodes, schema.Node{Name: n, Role: "node"})
		ns := view.NodeStatus{Name: n, Role: "node", Install: view.Install{State: "installed"}, Config: "current"}
		if i == 0 {
			ns.BMCReached, ns.Power = true, "on"
		} else {
			ns.BMCError = "i/o timeout"
		}
		st.Nodes = append(st.Nodes, ns)
	}
	srv, err := api.New(api.Config{StateDir: t.TempDir(), Spec: func() *schema.Rack { return spec },
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return st, nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv.Observe(context.Background())
	hits = new(atomic.Int32)
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" {
			hits.Add(1)
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, hits
}

// hangingRack accepts the request and never answers until the client
// gives up (or the test ends).
func hangingRack(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); ts.Close() })
	return ts.URL
}

// garbageRack answers 200 with a body that is no status document.
func garbageRack(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Write([]byte("<html>it works!</html>"))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fleetHandler is the web view of a rack whose fleet page shows eps.
func fleetHandler(t *testing.T, eps []fleet.Endpoint, timeout time.Duration, clock *fakeClock) http.Handler {
	t.Helper()
	srv, err := api.New(api.Config{StateDir: t.TempDir(), Spec: func() *schema.Rack { return &schema.Rack{Name: "here"} },
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var fl *api.Fleet
	if eps != nil {
		fl = api.NewFleet(api.FleetConfig{Query: fleet.APIQuery(&http.Client{}, eps, timeout), Timeout: timeout,
			CacheFor: 10 * time.Second, Now: clock.Now})
	}
	h, err := Handler(Config{API: srv, Fleet: fl})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// getFleet GETs /api/fleet; a request still unanswered after a minute is
// a hang (the guard is no speed check: the per-rack timeout is 2s).
func getFleet(t *testing.T, h http.Handler) api.FleetDoc {
	t.Helper()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- get(t, h, "/api/fleet") }()
	var rec *httptest.ResponseRecorder
	select {
	case rec = <-done:
	case <-time.After(time.Minute):
		t.Fatal("GET /api/fleet did not answer: a rack's timeout is not applied")
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/fleet: %d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var doc api.FleetDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("GET /api/fleet: not JSON: %v\n%s", err, rec.Body)
	}
	return doc
}

// TestFleetEndpoint: two real racks, one that hangs and one that answers
// garbage give one document, in the endpoints' order, each rack's state
// as observed: the hanging one unreachable for its timeout, the garbage
// one unreachable as no status document, neither with a status.
func TestFleetEndpoint(t *testing.T) {
	urlA, hitsA := rackAPI(t, "rack-a", "a-0", "a-1")
	urlB, hitsB := rackAPI(t, "rack-b", "b-0", "b-1", "b-2")
	eps := []fleet.Endpoint{{Name: "rack-a", URL: urlA}, {Name: "rack-b", URL: urlB + "/"},
		{Name: "rack-hang", URL: hangingRack(t)}, {Name: "rack-junk", URL: garbageRack(t)}}
	clock := &fakeClock{now: time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)}
	doc := getFleet(t, fleetHandler(t, eps, 2*time.Second, clock))

	if doc.FormatVersion != api.FormatVersion || doc.Timeout != "2s" || doc.CacheFor != "10s" || !doc.QueriedAt.Equal(clock.Now()) {
		t.Errorf("document head %q %q %q %s", doc.FormatVersion, doc.Timeout, doc.CacheFor, doc.QueriedAt)
	}
	if len(doc.Racks) != len(eps) {
		t.Fatalf("%d racks, want %d: %+v", len(doc.Racks), len(eps), doc.Racks)
	}
	for i, r := range doc.Racks {
		if r.Name != eps[i].Name || r.URL != eps[i].URL {
			t.Errorf("rack %d: %s %s, want %s %s (the endpoints' order)", i, r.Name, r.URL, eps[i].Name, eps[i].URL)
		}
	}
	for i, want := range map[int]struct {
		rack  string
		nodes []string
	}{0: {"rack-a", []string{"a-0", "a-1"}}, 1: {"rack-b", []string{"b-0", "b-1", "b-2"}}} {
		r := doc.Racks[i]
		if !r.Reachable || r.Error != "" || r.Status == nil {
			t.Fatalf("%s: reachable %v, error %q, status %v; want its document", r.Name, r.Reachable, r.Error, r.Status)
		}
		var got []string
		for _, n := range r.Status.Nodes {
			got = append(got, n.Name+"="+n.State)
		}
		wantNodes := []string{want.nodes[0] + "=ok"}
		for _, n := range want.nodes[1:] {
			wantNodes = append(wantNodes, n+"=unreachable")
		}
		if r.Status.Rack != want.rack || strings.Join(got, " ") != strings.Join(wantNodes, " ") || r.Status.Summary.OK != 1 {
			t.Errorf("%s: rack %q, nodes %v, summary %+v; want %v", r.Name, r.Status.Rack, got, r.Status.Summary, wantNodes)
		}
	}
	for i, why := range map[int]string{2: "no answer within 2s", 3: "not a status document"} {
		r := doc.Racks[i]
		if r.Reachable || r.Status != nil || !strings.Contains(r.Error, why) {
			t.Errorf("%s: reachable %v, status %v, error %q; want unreachable, no status, %q", r.Name, r.Reachable, r.Status, r.Error, why)
		}
	}
	if hitsA.Load() != 1 || hitsB.Load() != 1 {
		t.Errorf("racks asked %d and %d times, want once each", hitsA.Load(), hitsB.Load())
	}
}

// TestFleetCache: viewers arriving together, and within CacheFor after,
// share one query: each rack is asked once; after CacheFor it is asked
// again.
func TestFleetCache(t *testing.T) {
	urlA, hitsA := rackAPI(t, "rack-a", "a-0")
	urlB, hitsB := rackAPI(t, "rack-b", "b-0")
	clock := &fakeClock{now: time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)}
	h := fleetHandler(t, []fleet.Endpoint{{Name: "rack-a", URL: urlA}, {Name: "rack-b", URL: urlB}}, 2*time.Second, clock)

	const viewers = 8
	var wg sync.WaitGroup
	docs := make([]api.FleetDoc, viewers)
	for i := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); docs[i] = getFleet(t, h) }()
	}
	wg.Wait()
	for i, d := range docs {
		if len(d.Racks) != 2 || !d.Racks[0].Reachable || !d.Racks[1].Reachable {
			t.Fatalf("viewer %d: %+v", i, d.Racks)
		}
	}
	clock.Add(9 * time.Second)
	getFleet(t, h)
	if hitsA.Load() != 1 || hitsB.Load() != 1 {
		t.Errorf("%d viewers within the cache time: racks asked %d and %d times, want once each", viewers+1, hitsA.Load(), hitsB.Load())
	}
	clock.Add(2 * time.Second)
	if d := getFleet(t, h); !d.QueriedAt.Equal(clock.Now()) {
		t.Errorf("after the cache time: queried at %s, want a new query at %s", d.QueriedAt, clock.Now())
	}
	if hitsA.Load() != 2 || hitsB.Load() != 2 {
		t.Errorf("after the cache time: racks asked %d and %d times, want twice each", hitsA.Load(), hitsB.Load())
	}
}

// TestFleetOff: without endpoints, GET /api/fleet and /fleet are 404 with
// the setting to configure, and the rack page has no fleet link; with
// them, it has, and /fleet is the fleet page.
func TestFleetOff(t *testing.T) {
	off := fleetHandler(t, nil, time.Second, nil)
	for _, path := range []string{"/api/fleet", "/fleet"} {
		rec := get(t, off, path)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "web.fleetEndpoints") ||
			!strings.Contains(rec.Body.String(), "--fleet-endpoints") {
			t.Errorf("%s without a fleet: %d %q, want 404 naming web.fleetEndpoints and --fleet-endpoints", path, rec.Code, rec.Body)
		}
	}
	if body := get(t, off, "/").Body.String(); strings.Contains(body, `id="fleet-link"`) {
		t.Error("the rack page links a fleet page that is not configured")
	}

	on := fleetHandler(t, []fleet.Endpoint{{Name: "x", URL: garbageRack(t)}}, time.Second, &fakeClock{})
	if body := get(t, on, "/").Body.String(); !strings.Contains(body, `id="fleet-link" href="/fleet"`) {
		t.Errorf("the rack page has no fleet link:\n%s", body)
	}
	rec := get(t, on, "/fleet")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-page="fleet"`) ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("/fleet: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
}

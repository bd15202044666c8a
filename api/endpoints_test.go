package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
)

// The planner is a function (Config.Plan): these tests hand the server
// plans directly. The command's browser test (cmd/rackctl
// TestWebViewBrowser) plans a real rack through the engine.

func getJSON[T any](t *testing.T, h http.Handler, path string, want int) T {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var doc T
	if rec.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, rec.Body, want)
	}
	if want == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("GET %s: not JSON: %v\n%s", path, err, rec.Body)
		}
	}
	return doc
}

func testPlan() *reconcile.Plan {
	return &reconcile.Plan{RackName: "r1", Commit: "abc1234", Changes: []reconcile.Change{
		{Layer: reconcile.LayerFiles, Action: reconcile.ActionUpdate, Address: "file:etc/hosts", Diff: "-old\n+new\n"},
		{Layer: reconcile.LayerFiles, Action: reconcile.ActionNoop, Address: "file:etc/unchanged"},
		{Layer: reconcile.LayerFiles, Action: reconcile.ActionCreate, Address: "file:cl/a.yaml", Node: "a", Diff: "+x\n"},
		{Layer: reconcile.LayerBMC, Action: reconcile.ActionUpdate, Address: "bmc:a/bootdev", Node: "a", Disruptive: true, Reason: "reinstall"},
		{Layer: reconcile.LayerFiles, Action: reconcile.ActionCreate, Address: "file:cl/b.yaml", Node: "b"},
	}}
}

func TestPlanDocument(t *testing.T) {
	var fail error
	srv, err := New(Config{StateDir: t.TempDir(), Spec: testSpec,
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil },
		Plan: func(context.Context, *schema.Rack) (*reconcile.Plan, error) {
			if fail != nil {
				return nil, fail
			}
			return testPlan(), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	doc := getJSON[PlanDoc](t, srv.Handler(), "/api/plan", http.StatusOK)
	if doc.State != PlanPending || doc.Plan != nil || doc.Layers == nil || len(doc.Layers) != 0 {
		t.Fatalf("before a plan: %+v, want pending, null plan, empty layers", doc)
	}
	srv.PlanNow(context.Background())
	doc = getJSON[PlanDoc](t, srv.Handler(), "/api/plan", http.StatusOK)
	if doc.State != PlanPlanned || doc.PlannedAt == nil || doc.Plan == nil || doc.Plan.Commit != "abc1234" {
		t.Fatalf("after a plan: %+v", doc)
	}
	// files: rack, a, b (first appearance); bmc: a. The no-op is left out.
	var got []string
	for _, l := range doc.Layers {
		for _, g := range l.Nodes {
			for _, c := range g.Changes {
				got = append(got, l.Layer+"|"+g.Node+"|"+c.Address)
			}
		}
	}
	want := "files||files/file:etc/hosts files|a|files/file:cl/a.yaml files|b|files/file:cl/b.yaml bmc|a|bmc/bmc:a/bootdev"
	if strings.Join(got, " ") != want {
		t.Errorf("grouped:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if c := doc.Layers[0].Nodes[0].Changes[0]; c.Diff != "-old\n+new\n" || c.Disruptive {
		t.Errorf("file change %+v, want its diff, not disruptive", c)
	}
	if c := doc.Layers[1].Nodes[0].Changes[0]; !c.Disruptive || c.Reason != "reinstall" {
		t.Errorf("bmc change %+v, want disruptive with its reason", c)
	}
	fail = errors.New("terraform: exit 1")
	srv.PlanNow(context.Background())
	doc = getJSON[PlanDoc](t, srv.Handler(), "/api/plan", http.StatusOK)
	if doc.State != PlanFailed || doc.Error != "terraform: exit 1" || doc.Plan == nil {
		t.Errorf("after a failed plan: state %q error %q plan %v, want failed, the error, the last plan kept", doc.State, doc.Error, doc.Plan != nil)
	}
}

func TestPlanOff(t *testing.T) {
	srv, _ := newTestServer(t, func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil })
	srv.PlanNow(context.Background())
	if doc := getJSON[PlanDoc](t, srv.Handler(), "/api/plan", http.StatusOK); doc.State != PlanOff {
		t.Errorf("state %q, want off without a planner", doc.State)
	}
}

func TestHistoryEndpoint(t *testing.T) {
	var asked []int
	srv, err := New(Config{StateDir: t.TempDir(), Spec: testSpec,
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil },
		History: func(limit int) (*view.History, error) {
			asked = append(asked, limit)
			return &view.History{FormatVersion: "1.0", Entries: []view.HistoryEntry{{Outcome: "applied", Commit: "c1"}}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := getJSON[view.History](t, srv.Handler(), "/api/history", http.StatusOK)
	if len(h.Entries) != 1 || h.Entries[0].Commit != "c1" {
		t.Errorf("entries %+v", h.Entries)
	}
	getJSON[view.History](t, srv.Handler(), "/api/history?limit=3", http.StatusOK)
	getJSON[view.History](t, srv.Handler(), "/api/history?limit=-1", http.StatusBadRequest)
	getJSON[view.History](t, srv.Handler(), "/api/history?limit=x", http.StatusBadRequest)
	if len(asked) != 2 || asked[0] != DefaultHistoryLimit || asked[1] != 3 {
		t.Errorf("limits asked %v, want [%d 3]", asked, DefaultHistoryLimit)
	}
}

// readEvent reads one event (its event: and data: lines) from an SSE
// stream, skipping comments.
func readEvent(t *testing.T, r *bufio.Reader) (string, Event) {
	t.Helper()
	var typ string
	var ev Event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		case line == "" && typ != "":
			return typ, ev
		}
	}
}

// The stream carries what the server publishes and its own observations,
// and ends when Run does.
func TestEventsStream(t *testing.T) {
	srv, err := New(Config{StateDir: t.TempDir(), Spec: testSpec, Interval: time.Hour,
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) { return &view.Status{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	resp, err := http.Get(hs.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "retry: 3000\n" {
		t.Fatalf("first line %q %v", line, err) // written once subscribed: what follows is not missed
	}
	srv.Publish(Event{Type: EventOutcome, Commit: "c0ffee1", Outcome: "held", Message: "over limit"})
	if typ, ev := readEvent(t, r); typ != EventOutcome || ev.Commit != "c0ffee1" || ev.Outcome != "held" || ev.Time.IsZero() {
		t.Fatalf("event %q %+v", typ, ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { srv.Run(ctx); close(ended) }()
	if typ, ev := readEvent(t, r); typ != EventObservation || ev.Outcome != ObservationObserved {
		t.Fatalf("event %q %+v, want the observation", typ, ev)
	}
	cancel()
	<-ended
	closed := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); closed <- err }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("stream after Run ended: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a speed check
		t.Fatal("the stream stayed open after Run ended")
	}
}

// Streams past MaxStreams are refused, not kept open.
func TestEventsStreamsBounded(t *testing.T) {
	srv, _ := newTestServer(t, func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil })
	var unsubscribe []func()
	for range MaxStreams {
		_, un, ok := srv.subscribe()
		if !ok {
			t.Fatal("refused below the bound")
		}
		unsubscribe = append(unsubscribe, un)
	}
	// A client gone already: a stream let past the bound ends at once
	// instead of hanging the test.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/events", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("stream %d: %d %s, want 503 with Retry-After", MaxStreams+1, rec.Code, rec.Body)
	}
	unsubscribe[0]()
	if _, _, ok := srv.subscribe(); !ok {
		t.Error("a closed stream's place was not freed")
	}
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
)

// The node observation is a function (Config.Observe): these tests hand
// the server observations directly to check what the API makes of them.
// The command's test (cmd/rackctl TestWatchServesAPIStatus) observes real
// ipmi_sim BMCs through the engine.

func TestNodeState(t *testing.T) {
	installed := view.Install{State: "installed", Verify: "ssh"}
	cases := []struct {
		name string
		in   view.NodeStatus
		want string
	}{
		{"ok", view.NodeStatus{BMCReached: true, Power: "on", Install: installed, Config: "current"}, StateOK},
		{"ok lokomotive", view.NodeStatus{BMCReached: true, Power: "on", Install: installed, Config: "n/a"}, StateOK},
		{"excluded first", view.NodeStatus{Excluded: true, Install: view.Install{State: "excluded"}}, StateExcluded},
		{"unreachable before install", view.NodeStatus{BMCError: "timeout", Install: installed, Config: "current"}, StateUnreachable},
		{"failed", view.NodeStatus{BMCReached: true, Power: "on", Install: view.Install{State: "failed", Reason: "timed out"}}, StateFailed},
		{"off", view.NodeStatus{BMCReached: true, Power: "off", Install: installed, Config: "current"}, StateOff},
		{"pending", view.NodeStatus{BMCReached: true, Power: "on", Install: view.Install{State: "pending"}}, StatePending},
		{"drift", view.NodeStatus{BMCReached: true, Power: "on", Install: installed, Config: "stale (running a, rendered b)"}, StateDrift},
		{"config not read is not ok", view.NodeStatus{BMCReached: true, Power: "on", Install: installed, Config: "unknown (unreachable)"}, StateUnknown},
		{"power not read is not ok", view.NodeStatus{BMCReached: true, Install: installed, Config: "current"}, StateUnknown},
		{"install unknown", view.NodeStatus{BMCReached: true, Power: "on", Install: view.Install{State: "unknown", Reason: "installs.json unreadable"}, Config: "current"}, StateUnknown},
	}
	for _, c := range cases {
		if got := nodeState(c.in); got.State != c.want {
			t.Errorf("%s: state %q (%s), want %q", c.name, got.State, got.Reason, c.want)
		}
	}
}

func testSpec() *schema.Rack {
	return &schema.Rack{Name: "r1", Nodes: []schema.Node{{Name: "a", Role: "node"}, {Name: "b", Role: "node"}}}
}

func newTestServer(t *testing.T, observe Observer) (*Server, state.Dir) {
	t.Helper()
	dir := t.TempDir()
	srv, err := New(Config{StateDir: dir, Spec: testSpec, Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	return srv, state.New(dir)
}

func getStatus(t *testing.T, srv *Server) RackStatus {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/status", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/status: %d %s", rec.Code, rec.Body)
	}
	var doc RackStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, rec.Body)
	}
	return doc
}

// Before the first observation every node is listed as unknown, never as
// what the last plan expected.
func TestStatusBeforeObservation(t *testing.T) {
	srv, _ := newTestServer(t, func(context.Context, *schema.Rack) (*view.Status, error) {
		t.Fatal("observed without being asked")
		return nil, nil
	})
	doc := getStatus(t, srv)
	if doc.Observation.State != ObservationPending || doc.Status != nil || doc.Rack != "r1" {
		t.Fatalf("observation %+v, status %v, rack %q", doc.Observation, doc.Status, doc.Rack)
	}
	if len(doc.Nodes) != 2 || doc.Nodes[0].State != StateUnknown || doc.Summary.Unknown != 2 || doc.Summary.Total != 2 {
		t.Fatalf("nodes %+v summary %+v", doc.Nodes, doc.Summary)
	}
	if doc.Watch != nil || doc.Held == nil || doc.LastErrors == nil {
		t.Errorf("watch %v held %v errors %v: want null watch, empty lists", doc.Watch, doc.Held, doc.LastErrors)
	}
}

// A failed observation keeps the one before it and says why.
func TestStatusObservationFailureKeepsLast(t *testing.T) {
	fail := false
	srv, _ := newTestServer(t, func(_ context.Context, s *schema.Rack) (*view.Status, error) {
		if fail {
			return nil, errors.New("state dir unreadable")
		}
		return &view.Status{Rack: s.Name, Nodes: []view.NodeStatus{
			{Name: "a", Role: "node", BMCReached: true, Power: "on", Install: view.Install{State: "installed"}, Config: "current"},
			{Name: "b", Role: "node", BMCError: "i/o timeout"}}}, nil
	})
	srv.Observe(context.Background())
	doc := getStatus(t, srv)
	if doc.Observation.State != ObservationObserved || doc.Observation.ObservedAt == nil {
		t.Fatalf("observation %+v", doc.Observation)
	}
	if doc.Summary.OK != 1 || doc.Summary.Unreachable != 1 || doc.Nodes[1].Reason != "i/o timeout" {
		t.Fatalf("summary %+v nodes %+v", doc.Summary, doc.Nodes)
	}
	fail = true
	srv.Observe(context.Background())
	doc = getStatus(t, srv)
	if doc.Observation.State != ObservationFailed || !strings.Contains(doc.Observation.Error, "unreadable") {
		t.Fatalf("observation %+v", doc.Observation)
	}
	if doc.Status == nil || doc.Summary.OK != 1 {
		t.Errorf("the last observation was dropped: %+v", doc.Summary)
	}
}

func TestStatusObserverPanic(t *testing.T) {
	srv, _ := newTestServer(t, func(context.Context, *schema.Rack) (*view.Status, error) { panic("bug") })
	srv.Observe(context.Background())
	if doc := getStatus(t, srv); doc.Observation.State != ObservationFailed || !strings.Contains(doc.Observation.Error, "panic") {
		t.Fatalf("observation %+v", doc.Observation)
	}
}

// Held commits and last errors come from watch-events.jsonl.
func TestStatusHeldAndErrors(t *testing.T) {
	srv, dir := newTestServer(t, func(context.Context, *schema.Rack) (*view.Status, error) { return nil, nil })
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	evs := []state.WatchEvent{
		{Time: t0, Outcome: "rejected", Commit: "aaaaaaa1", Reason: "rack.yaml:3:5: bad mac"},
		{Time: t0.Add(time.Minute), Outcome: "applied", Commit: "bbbbbbb2"},
		{Time: t0.Add(2 * time.Minute), Outcome: "held", Commit: "ccccccc3", Author: "Ann", Reason: "over limit",
			Policy: &state.PolicyDecision{OverLimit: []string{"worker: 3 nodes > limit 1"}, Disruptive: map[string][]string{"worker": {"w1", "w2", "w3"}}}},
		{Time: t0.Add(3 * time.Minute), Outcome: "skipped", Commit: "ddddddd4", Reason: "unsigned"},
	}
	for _, e := range evs {
		if err := dir.AppendWatchEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	doc := getStatus(t, srv)
	if len(doc.Held) != 1 {
		t.Fatalf("held %+v", doc.Held)
	}
	h := doc.Held[0]
	if h.Commit != "ccccccc3" || h.ApproveCommand != "rackctl approve ccccccc3" || h.OverLimit[0] != "worker: 3 nodes > limit 1" ||
		len(h.Disruptive) != 1 || len(h.Disruptive[0].Nodes) != 3 {
		t.Errorf("held %+v", h)
	}
	if len(doc.LastErrors) != 2 || doc.LastErrors[0].Commit != "ddddddd4" || doc.LastErrors[1].Message != "rack.yaml:3:5: bad mac" {
		t.Errorf("last errors %+v (want newest first: the refusal, then the rejection)", doc.LastErrors)
	}
	if err := dir.AppendWatchEvent(state.WatchEvent{Time: t0.Add(4 * time.Minute), Outcome: "applied", Commit: "eeeeeee5"}); err != nil {
		t.Fatal(err)
	}
	if doc := getStatus(t, srv); len(doc.Held) != 0 {
		t.Errorf("a later apply did not release the hold: %+v", doc.Held)
	}
}

func TestLastErrorsBounded(t *testing.T) {
	var evs []state.WatchEvent
	for range 3 * MaxLastErrors {
		evs = append(evs, state.WatchEvent{Outcome: "failed", Reason: "x"})
	}
	if got := lastErrors(evs); len(got) != MaxLastErrors {
		t.Errorf("%d errors, want %d", len(got), MaxLastErrors)
	}
}

// Run observes at once and again after Kick, without waiting the interval.
func TestRunKick(t *testing.T) {
	calls := make(chan struct{}, 10)
	srv, err := New(Config{StateDir: t.TempDir(), Spec: testSpec, Interval: time.Hour,
		Observe: func(context.Context, *schema.Rack) (*view.Status, error) {
			calls <- struct{}{}
			return &view.Status{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Run(ctx)
	<-calls
	srv.Kick()
	select {
	case <-calls:
	case <-time.After(30 * time.Second):
		t.Fatal("Kick did not start an observation")
	}
}

// Every key the documents can carry is in docs/api.md.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	full := RackStatus{Watch: &WatchState{NextRetry: &now}, Held: []HeldCommit{{OverLimit: []string{"x"}, OutsideWindow: true,
		Disruptive: []view.RoleNodes{{Role: "r"}}, Author: "a"}}, LastErrors: []LastError{{Commit: "c"}},
		Nodes: []NodeState{{Reason: "r", RackUnit: 3, BMCProtocol: "ipmi", Maintenance: MaintenanceLocal}}, Observation: Observation{ObservedAt: &now, Duration: "1s", Error: "e"}}
	full.Watch.LastApplied, full.Watch.Current, full.Watch.LastError = "a", "b", "c"
	full.Watch.Pin = &Pin{Reason: "r", Rollback: true, Error: "e"}
	// plan is `plan -o json`'s document, documented in docs/json.md.
	plan := PlanDoc{PlannedAt: &now, Duration: "1s", Error: "e", Layers: []PlanLayer{{Nodes: []PlanGroup{{Changes: []PlanChange{{Reason: "r", Diff: "d"}}}}}}}
	fleet := FleetDoc{Racks: []FleetRack{{Name: "r", URL: "u", Error: "e", Status: &full}}}
	for _, v := range []any{full, plan, fleet, Event{Commit: "c", Outcome: "o", Message: "m"}, ApproveResult{Approved: "a", Error: "e", ApproveCommand: "c"}} {
		checkDocumented(t, string(doc), v)
	}
}

// checkDocumented fails for each key of v's JSON that docs does not name,
// alone (`key`) or by its path (`parent.key`).
func checkDocumented(t *testing.T, docs string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !strings.Contains(docs, "`"+k+"`") && !strings.Contains(docs, "."+k+"`") {
					t.Errorf("key %q is not documented in docs/api.md", k)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(tree)
}

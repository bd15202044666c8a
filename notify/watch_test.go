package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/watch"
)

// planReconciler is a fake of the engine's reconciler (the real one needs
// terraform, BMCs and dnsmasq; watch's own tests run it): every node with a
// reprovision value gets a disruptive reinstall, and every plan changes
// one file so a commit has something to apply.
type planReconciler struct{}

func (planReconciler) Plan(_ context.Context, rack *schema.Rack, commit string) (*reconcile.Plan, error) {
	p := &reconcile.Plan{Commit: commit, Changes: []reconcile.Change{
		{Layer: reconcile.LayerFiles, Action: reconcile.ActionUpdate, Address: "file:etc/hosts"},
	}}
	for _, n := range rack.Nodes {
		if n.Reprovision != "" {
			p.Changes = append(p.Changes, reconcile.Change{Layer: reconcile.LayerBMC, Action: reconcile.ActionPXEReinstall,
				Address: "bmc:" + n.Name, Node: n.Name, Disruptive: true})
		}
	}
	return p, nil
}

func (planReconciler) Apply(_ context.Context, _ *schema.Rack, p *reconcile.Plan) (reconcile.Result, error) {
	return reconcile.Result{Outcome: reconcile.OutcomeSuccess, Done: p.Changes}, nil
}

// TestWatchHeldNotified runs the real watch loop over a git repository:
// a commit held over the worker limit reaches the webhook with the approve
// command without waiting for a poll (PollInterval is an hour), an
// invalid commit arrives with its positioned error, and a target that
// hangs on the first event holds up neither the loop nor the other target.
func TestWatchHeldNotified(t *testing.T) {
	spec, err := os.ReadFile("../spec-examples/lokomotive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	live, dead := newReceiver(t, nil), newReceiver(t, nil)
	dead.holdAll()
	var w *watch.Watcher
	n := newNotifier(t, Config{Origin: Origin{Rack: func() string { return w.Spec().Name }}, Targets: []TargetConfig{
		{Name: "dead", Kind: KindWebhook, URLFile: writeFile(t, "dead", dead.srv.URL), Timeout: time.Hour},
		{Name: "live", Kind: KindWebhook, URLFile: writeFile(t, "live", live.srv.URL)},
	}})
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(string(spec), "base")
	src, err := source.NewGit(source.GitConfig{URL: repo.Dir, Dir: filepath.Join(t.TempDir(), "clone"),
		Interval: 50 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	records := make(chan watch.EventRecord, 10)
	w, err = watch.New(watch.Config{Source: src, Reconciler: planReconciler{}, StateDir: t.TempDir(),
		Policy: watch.DefaultPolicy(), PollInterval: time.Hour, DriftInterval: -1,
		OnEvent: func(r watch.EventRecord) { n.Notify(r); records <- r }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Register(n.Collectors()...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	expectEvent(t, live, KindApplied, c1)
	dead.next(t) // c1's event, now hanging

	held := string(spec)
	for _, w := range []string{"lokomotive-worker-0", "lokomotive-worker-1", "lokomotive-worker-2"} {
		held = strings.Replace(held, "  - name: "+w+"\n", "  - name: "+w+"\n    reprovision: \"1\"\n", 1)
	}
	c2 := repo.Commit(held, "reinstall three workers")
	// The loop records the held commit while the dead target still hangs.
	for r := range records {
		if r.Commit == c2 {
			if r.Outcome != watch.OutcomeHeld {
				t.Fatalf("record %+v: want held", r)
			}
			break
		}
	}
	e := expectEvent(t, live, KindHeld, c2)
	if e.Rack != "rack-a" {
		t.Errorf("event names rack %q, want the spec's name", e.Rack)
	}
	if e.Held == nil || e.Held.Approve != "rackctl approve "+c2 || !strings.Contains(e.Held.Reason, "worker: 3 nodes > limit 1") {
		t.Errorf("held event %+v", e.Held)
	}

	c3 := repo.Commit(strings.Replace(string(spec), "mac: aa:bb:cc:dd:00:01", "mac: not-a-mac", 1), "typo")
	e = expectEvent(t, live, KindRejected, c3)
	if e.Rejected == nil || e.Rejected.Cause != "validation" || len(e.Rejected.Diagnostics) == 0 ||
		e.Rejected.Diagnostics[0].File != "rack.yaml" || e.Rejected.Diagnostics[0].Line == 0 {
		t.Errorf("rejected event %+v", e.Rejected)
	}
	if q := counter(t, n.m.queue, "dead"); q != 2 {
		t.Errorf("dead target's queue %v, want 2 (held, rejected)", q)
	}
	// The notifier's metrics are on watch's /metrics.
	rec := httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`rackctl_notify_queue_length{target="dead"} 2`, `rackctl_notify_sent_total{outcome="ok",target="live"}`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// expectEvent reads the receiver's next event and checks kind and commit.
func expectEvent(t *testing.T, r *receiver, kind Kind, commit string) Event {
	t.Helper()
	q := r.next(t)
	var e Event
	if err := json.Unmarshal(q.body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != kind || e.Commit == nil || e.Commit.ID != commit {
		t.Fatalf("event %s for %v, want %s for %s: %s", e.Kind, e.Commit, kind, commit, q.body)
	}
	return e
}

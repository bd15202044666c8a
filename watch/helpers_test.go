package watch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
)

const exampleSpec = "../spec-examples/lokomotive.yaml"

func baseSpec(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(exampleSpec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withReprovision sets the reprovision value of the named nodes.
func withReprovision(t *testing.T, spec, value string, nodes ...string) string {
	t.Helper()
	for _, n := range nodes {
		old := "  - name: " + n + "\n"
		if !strings.Contains(spec, old) {
			t.Fatalf("spec has no node %s", n)
		}
		spec = strings.Replace(spec, old, old+"    reprovision: "+value+"\n", 1)
	}
	return spec
}

// badSpec has an invalid MAC on line 31 (nodes[0].mac).
func badSpec(t *testing.T) string {
	t.Helper()
	s := baseSpec(t)
	return strings.Replace(s, "mac: aa:bb:cc:dd:00:01", "mac: not-a-mac", 1)
}

// testReconciler plans and applies with the real reconcile package (files
// layer only), under a temp root. Nodes whose reprovision value differs
// from the last applied one get a disruptive bmc change, carried out by a
// recording fake executor. Hooks inject failures.
type testReconciler struct {
	root, stateDir string

	mu          sync.Mutex
	applied     map[string]string // node → reprovision applied
	plans       []string          // commits planned
	planTimes   []time.Time
	applies     []string // commits applied
	reinstalled []string
	planPanics  int // panic in the next n Plan calls
	planErrs    int // fail the next n Plan calls
	blockApply  bool
	applyStart  chan string // receives the commit at each apply start, if set
	// verify adds a verify change per reinstalled node, carried out by an
	// executor that observes installs (history's "verified" count).
	verify bool
	// failReason makes the bmc changes with that reason fail.
	failReason string
	// unhealthy, when set, makes the plan follow the spec's rollout
	// (reconcile.ComputeWaves over the reinstalled nodes) and is the
	// health gate's verdict on every node it names.
	unhealthy map[string]string
	// gate, when set, is the health gate instead of unhealthy's.
	gate reconcile.HealthGate
}

func newTestReconciler(t *testing.T) *testReconciler {
	root := t.TempDir()
	return &testReconciler{root: root, stateDir: filepath.Join(root, "var/lib/rackctl"), applied: map[string]string{}}
}

func (r *testReconciler) Plan(ctx context.Context, rack *schema.Rack, commit string) (*reconcile.Plan, error) {
	r.mu.Lock()
	r.plans = append(r.plans, commit)
	r.planTimes = append(r.planTimes, time.Now())
	if r.planPanics > 0 {
		r.planPanics--
		r.mu.Unlock()
		panic("injected panic in Plan")
	}
	if r.planErrs > 0 {
		r.planErrs--
		r.mu.Unlock()
		return nil, fmt.Errorf("injected plan failure")
	}
	r.mu.Unlock()
	p, err := reconcile.Build(ctx, rack, reconcile.PlanOptions{Root: r.root, StateDir: r.stateDir, Commit: commit})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var disrupted []string
	for _, n := range rack.Nodes {
		if n.Reprovision != r.applied[n.Name] {
			p.Changes = append(p.Changes, reconcile.Change{
				Layer: reconcile.LayerBMC, Action: reconcile.ActionPXEReinstall, Address: "bmc:" + n.Name,
				Node: n.Name, Disruptive: true, Reason: "reprovision " + n.Reprovision,
			})
			disrupted = append(disrupted, n.Name)
		}
	}
	if r.unhealthy != nil {
		if w := reconcile.ComputeWaves(rack, disrupted); w != nil {
			p.Rollout = &reconcile.Rollout{Waves: w, Settle: rack.Rollout.Settle, Timeout: rack.Rollout.Timeout}
		}
	}
	if r.verify {
		for _, c := range slices.Clone(p.Changes) {
			if c.Layer == reconcile.LayerBMC {
				p.Changes = append(p.Changes, reconcile.Change{Layer: reconcile.LayerVerify, Action: reconcile.ActionVerify,
					Address: "verify:" + c.Node, Node: c.Node, Reason: "record the install"})
			}
		}
	}
	return p, nil
}

func (r *testReconciler) Apply(ctx context.Context, rack *schema.Rack, p *reconcile.Plan) (reconcile.Result, error) {
	return r.apply(ctx, rack, p, nil)
}

// progressing is a testReconciler that reports its applies' progress (a
// type of its own: embedding testReconciler to override Apply must not
// bring an ApplyProgress that bypasses the override).
type progressing struct{ *testReconciler }

var _ ProgressReconciler = progressing{}

func (r progressing) ApplyProgress(ctx context.Context, rack *schema.Rack, p *reconcile.Plan, progress func(reconcile.Event)) (reconcile.Result, error) {
	return r.apply(ctx, rack, p, progress)
}

func (r *testReconciler) apply(ctx context.Context, rack *schema.Rack, p *reconcile.Plan, progress func(reconcile.Event)) (reconcile.Result, error) {
	r.mu.Lock()
	block, started := r.blockApply, r.applyStart
	r.mu.Unlock()
	if started != nil {
		started <- p.Commit
	}
	r.mu.Lock()
	execs := []reconcile.Executor{&fakeBMC{r: r, failReason: r.failReason}}
	if r.verify {
		execs = append(execs, observingVerify{})
	}
	r.mu.Unlock()
	var gate reconcile.HealthGate = gateOf(r.unhealthy)
	if r.gate != nil {
		gate = r.gate
	}
	opts := reconcile.ApplyOptions{Root: r.root, StateDir: r.stateDir, Commit: p.Commit, Executors: execs,
		Waves: reconcile.WaveOptions{Health: gate}, Progress: progress}
	if block {
		opts.BeforePhase = func(ctx context.Context, _ reconcile.Layer) { <-ctx.Done() }
	}
	res, err := reconcile.Apply(ctx, p, opts)
	if err == nil {
		r.mu.Lock()
		r.applies = append(r.applies, p.Commit)
		for _, n := range rack.Nodes {
			r.applied[n.Name] = n.Reprovision
		}
		r.mu.Unlock()
	}
	return res, err
}

func (r *testReconciler) planned() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.plans...)
}

// gateOf is a health gate that finds the nodes of bad unhealthy (a fake:
// the engine's gate, over installs.json and the cluster, is tested on the
// simulated rack).
type gateOf map[string]string

func (g gateOf) Unhealthy(_ context.Context, nodes []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range nodes {
		if why, ok := g[n]; ok {
			out[n] = why
		}
	}
	return out, nil
}

type fakeBMC struct {
	r          *testReconciler
	failReason string
}

func (f *fakeBMC) Layer() reconcile.Layer { return reconcile.LayerBMC }

func (f *fakeBMC) Apply(ctx context.Context, c reconcile.Change) error {
	if f.failReason != "" && c.Reason == f.failReason {
		return fmt.Errorf("injected bmc failure on %s", c.Node)
	}
	f.r.mu.Lock()
	f.r.reinstalled = append(f.r.reinstalled, c.Node)
	f.r.mu.Unlock()
	return nil
}

// observingVerify stands in for a verifier that saw each node run its
// config (no node boots in these tests: the booting-rack e2e tests cover
// the real one).
type observingVerify struct{}

func (observingVerify) Layer() reconcile.Layer                        { return reconcile.LayerVerify }
func (observingVerify) Apply(context.Context, reconcile.Change) error { return nil }
func (observingVerify) ObservesInstalls() bool                        { return true }

// chanSource sends what the test puts on its channel.
type chanSource chan source.Event

func (c chanSource) Run(ctx context.Context, out chan<- source.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c:
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func revision(commit, spec string) source.Event {
	return source.Event{Revision: &source.Revision{Commit: commit, Author: "Ops", AuthorEmail: "ops@example.com",
		Time: time.Now(), Spec: []byte(spec), Path: "rack.yaml"}, Time: time.Now()}
}

// loop runs a Watcher in the background; events are sent on a channel.
type loop struct {
	w      *Watcher
	events chan EventRecord
	cancel context.CancelFunc
	done   chan error
}

func startLoop(t *testing.T, cfg Config) *loop {
	t.Helper()
	l := &loop{events: make(chan EventRecord, 100), done: make(chan error, 1)}
	cfg.OnEvent = func(r EventRecord) { l.events <- r }
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.w = w
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- w.Run(ctx) }()
	t.Cleanup(func() { l.stop(t) })
	return l
}

func (l *loop) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	select {
	case err, ok := <-l.done:
		if !ok {
			return // stopped already
		}
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		close(l.done)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// next waits for the next record.
func (l *loop) next(t *testing.T) EventRecord {
	t.Helper()
	select {
	case r := <-l.events:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event within 20s")
		return EventRecord{}
	}
}

// expect waits for the next record and checks its outcome.
func (l *loop) expect(t *testing.T, want Outcome) EventRecord {
	t.Helper()
	r := l.next(t)
	if r.Outcome != want {
		t.Fatalf("event %s (%s) for %s, want %s", r.Outcome, r.Reason, r.Commit, want)
	}
	return r
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func gitSource(t *testing.T, repo *testenv.GitRepo, mod func(*source.GitConfig)) *source.Git {
	t.Helper()
	cfg := source.GitConfig{URL: repo.Dir, Dir: filepath.Join(t.TempDir(), "clone"), Interval: 100 * time.Millisecond, Timeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	g, err := source.NewGit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

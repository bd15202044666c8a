package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrentExecutor is a Concurrent bmc executor that records how many
// changes ran at once, fails the nodes in fail and cancels when it is
// given the change at cancelAt.
type concurrentExecutor struct {
	limit    int
	fail     map[string]bool
	cancelAt string
	cancel   func()

	running, peak atomic.Int32
}

func (e *concurrentExecutor) Layer() Layer     { return LayerBMC }
func (e *concurrentExecutor) Concurrency() int { return e.limit }
func (e *concurrentExecutor) Apply(ctx context.Context, c Change) error {
	n := e.running.Add(1)
	defer e.running.Add(-1)
	for p := e.peak.Load(); n > p && !e.peak.CompareAndSwap(p, n); p = e.peak.Load() {
	}
	if c.Address == e.cancelAt {
		e.cancel()
	}
	time.Sleep(2 * time.Millisecond)
	if e.fail[c.Node] {
		return errors.New("ipmi timeout")
	}
	return nil
}

// TestRunPhaseFanout: a Concurrent executor's phase runs at most its
// Concurrency at once, "started" events come in plan order, results are
// in plan order, per-node failures skip only that node's later changes,
// and once ctx ends no further change starts.
func TestRunPhaseFanout(t *testing.T) {
	tests := map[string]struct {
		limit       int
		fail        []string
		cancelAt    int // -1: never
		wantDone    int
		wantFailed  []string
		wantSkipped int
	}{
		"sequential":            {limit: 1, cancelAt: -1, wantDone: 12},
		"four at once":          {limit: 4, cancelAt: -1, wantDone: 12},
		"all at once":           {limit: 50, cancelAt: -1, wantDone: 12},
		"one node fails":        {limit: 4, fail: []string{"node-3"}, cancelAt: -1, wantDone: 11, wantFailed: []string{"bmc:node-3"}},
		"cancelled, one-by-one": {limit: 1, cancelAt: 5, wantDone: 6, wantSkipped: 6},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Repeated: goroutine scheduling varies, ordering must not.
			for range 10 {
				runPhaseOnce(t, tc.limit, tc.fail, tc.cancelAt, tc.wantDone, tc.wantFailed, tc.wantSkipped)
			}
		})
	}
}

func runPhaseOnce(t *testing.T, limit int, fail []string, cancelAt, wantDone int, wantFailed []string, wantSkipped int) {
	t.Helper()
	root, state := t.TempDir(), t.TempDir()
	p := mustPlan(t, nil, root, state)
	var want []string
	for i := range 12 {
		addr := fmt.Sprintf("bmc:node-%d", i)
		want = append(want, addr)
		p.Changes = append(p.Changes, Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: addr, Node: fmt.Sprintf("node-%d", i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := &concurrentExecutor{limit: limit, fail: map[string]bool{}, cancel: cancel}
	for _, n := range fail {
		exec.fail[n] = true
	}
	if cancelAt >= 0 {
		exec.cancelAt = want[cancelAt]
	}
	var mu sync.Mutex
	var started []string
	res, _ := Apply(ctx, p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{exec},
		Progress: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Status == StatusStarted {
				started = append(started, e.Change.Address)
			}
		}})
	if got := int(exec.peak.Load()); got > limit || limit > 1 && got < 2 {
		t.Fatalf("%d changes ran at once, limit %d", got, limit)
	}
	if !slices.Equal(started, want[:len(started)]) {
		t.Fatalf("started events out of plan order: %v", started)
	}
	done := addresses(res.Done)
	if len(done) != wantDone || !slices.IsSortedFunc(res.Done, byNodeIndex) {
		t.Fatalf("done = %v, want %d in plan order", done, wantDone)
	}
	var failed []string
	for _, f := range res.Failed {
		failed = append(failed, f.Change.Address)
	}
	if !slices.Equal(failed, wantFailed) {
		t.Fatalf("failed = %v, want %v", failed, wantFailed)
	}
	if len(res.NotAttempted) != wantSkipped || len(started) != 12-wantSkipped {
		t.Fatalf("not attempted = %v, %d started, want %d not attempted", addresses(res.NotAttempted), len(started), wantSkipped)
	}
	if wantSkipped > 0 && res.Outcome != OutcomeCancelled {
		t.Fatalf("outcome %s, want cancelled", res.Outcome)
	}
}

func byNodeIndex(a, b Change) int {
	var i, j int
	fmt.Sscanf(a.Node, "node-%d", &i)
	fmt.Sscanf(b.Node, "node-%d", &j)
	return i - j
}

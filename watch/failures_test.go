package watch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// TestFailuresRecorded: an apply-failed record names each failed change's
// layer, node and error, and marks the waits that ran out.
func TestFailuresRecorded(t *testing.T) {
	change := func(layer reconcile.Layer, node string) reconcile.Change {
		return reconcile.Change{Layer: layer, Node: node, Address: string(layer) + ":" + node}
	}
	res := reconcile.Result{Failed: []reconcile.ChangeError{
		{Change: change(reconcile.LayerVerify, "w0"), Err: fmt.Errorf("verify w0: timed out after 3m: %w", &nodessh.NotYetError{Node: "w0", Last: errors.New("no route")})},
		{Change: change(reconcile.LayerVerify, "w1"), Err: fmt.Errorf("verify w1: %w", context.DeadlineExceeded)},
		{Change: change(reconcile.LayerBMC, "c0"), Err: errors.New("bmc c0: set boot device: refused")},
	}}
	got := failures(res)
	want := []state.WatchFailure{
		{Layer: "verify", Node: "w0", Address: "verify:w0", TimedOut: true},
		{Layer: "verify", Node: "w1", Address: "verify:w1", TimedOut: true},
		{Layer: "bmc", Node: "c0", Address: "bmc:c0", Error: "bmc c0: set boot device: refused"},
	}
	if len(got) != len(want) {
		t.Fatalf("failures %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.Layer != want[i].Layer || g.Node != want[i].Node || g.Address != want[i].Address || g.TimedOut != want[i].TimedOut || g.Error == "" {
			t.Errorf("failure %d = %+v, want %+v", i, g, want[i])
		}
	}
	if got[2].Error != want[2].Error {
		t.Errorf("error %q", got[2].Error)
	}
}

// failingApply plans as testReconciler does; its apply fails on one
// node's verify, as reconcile reports it.
type failingApply struct{ *testReconciler }

func (f failingApply) Apply(_ context.Context, _ *schema.Rack, p *reconcile.Plan) (reconcile.Result, error) {
	c := reconcile.Change{Layer: reconcile.LayerVerify, Node: "lokomotive-worker-1", Address: "verify:lokomotive-worker-1"}
	return reconcile.Result{Outcome: reconcile.OutcomeFailed, Failed: []reconcile.ChangeError{
		{Change: c, Err: &nodessh.NotYetError{Node: c.Node, Last: errors.New("connection refused")}},
	}}, nil
}

// TestApplyFailedRecordsFailures: the apply-failed record the loop writes
// (and hands to OnEvent) names the failed change.
func TestApplyFailedRecordsFailures(t *testing.T) {
	rec := newTestReconciler(t)
	src := make(chanSource)
	l := startLoop(t, Config{Source: src, Reconciler: failingApply{rec}, StateDir: rec.stateDir, Policy: DefaultPolicy(), BackoffMin: time.Hour})
	src <- revision("c1", baseSpec(t))
	ev := l.expect(t, OutcomeApplyFailed)
	if len(ev.Failed) != 1 || ev.Failed[0].Layer != "verify" || ev.Failed[0].Node != "lokomotive-worker-1" || !ev.Failed[0].TimedOut {
		t.Fatalf("record failures %+v", ev.Failed)
	}
	evs, err := state.New(rec.stateDir).ReadWatchEvents()
	if err != nil || len(evs) == 0 || len(evs[len(evs)-1].Failed) != 1 {
		t.Errorf("watch-events.jsonl: %+v (%v)", evs, err)
	}
}

package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/state"
)

// TestRolloutGateFlatcar: on a Flatcar rack the gate between waves is the
// verify layer's last outcome per node (installs.json): installed is
// healthy, failed says why, none recorded is unknown. (The Lokomotive
// gate adds the cluster's Nodes: TestNodeHealth, on a real API server.)
func TestRolloutGateFlatcar(t *testing.T) {
	e, rack := newEngine(t, flatcarSpec, filesOnly)
	a, b, c := rack.Nodes[0].Name, rack.Nodes[1].Name, rack.Nodes[2].Name
	st := state.New(e.cfg.StateDir)
	for node, out := range map[string]state.InstallOutcome{a: state.InstallInstalled, b: state.InstallFailed} {
		if err := st.RecordInstall(node, state.InstallRecord{Outcome: out, Reason: "timed out after 20s"}); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := rolloutGate{e: e, rack: rack}.Unhealthy(context.Background(), []string{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{b: "install failed: timed out after 20s", c: "unknown: no verify outcome recorded"}
	if len(bad) != len(want) {
		t.Errorf("unhealthy %v, want %d nodes", bad, len(want))
	}
	for n, why := range want {
		if !strings.Contains(bad[n], why) {
			t.Errorf("%s: %q, want %q", n, bad[n], why)
		}
	}
}

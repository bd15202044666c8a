package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/reconcile"
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

// TestRolloutGateNoKubeconfig: a Lokomotive rack whose cluster rackctl
// cannot ask (no kubeconfig: none beneath the lokoctl assets, no
// KUBECONFIG) has no health to wait for: the gate says so with
// reconcile.ErrNoHealth, which stops a rollout at once instead of after
// its timeout, and names the way out.
func TestRolloutGateNoKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	a := rack.Nodes[0].Name
	if err := state.New(e.cfg.StateDir).RecordInstall(a, state.InstallRecord{Outcome: state.InstallInstalled}); err != nil {
		t.Fatal(err)
	}
	_, err := rolloutGate{e: e, rack: rack}.Unhealthy(context.Background(), []string{a})
	if !errors.Is(err, reconcile.ErrNoHealth) || !strings.Contains(err.Error(), "--kubeconfig") || !strings.Contains(err.Error(), "--no-waves") {
		t.Errorf("Unhealthy: %v, want ErrNoHealth naming --kubeconfig and --no-waves", err)
	}
}

// TestRolloutNoVerifyNoGate: a Flatcar rack whose installs no verify
// layer records (--verify none, or --provisioner-run never) has no health
// to observe between waves: apply's waves have no gate (they wait only for
// their changes), rather than holding on "unknown" until the timeout; a
// rack that records them, or a Lokomotive rack (the cluster), has one.
func TestRolloutNoVerifyNoGate(t *testing.T) {
	tests := map[string]struct {
		spec    string
		drivers func(*DriverConfig)
		gate    bool
	}{
		"flatcar, --verify none":             {flatcarSpec, func(d *DriverConfig) { d.Verify, d.ProvisionerRun = "none", "auto" }, false},
		"flatcar, --provisioner-run never":   {flatcarSpec, func(d *DriverConfig) { d.Verify, d.ProvisionerRun = "flag", "never" }, false},
		"flatcar, --verify flag":             {flatcarSpec, func(d *DriverConfig) { d.Verify, d.ProvisionerRun = "flag", "auto" }, true},
		"lokomotive, --verify none: cluster": {lokomotiveSpec, func(d *DriverConfig) { d.Verify, d.ProvisionerRun = "none", "auto" }, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := filesOnly
			tc.drivers(&d)
			e, rack := newEngine(t, tc.spec, d)
			wo := e.waveOptions(rack)
			if (wo.Health != nil) != tc.gate {
				t.Errorf("health gate %v, want %v", wo.Health != nil, tc.gate)
			}
			note := e.healthNote(rack, &reconcile.Plan{Rollout: &reconcile.Rollout{}})
			if (note != "") == tc.gate {
				t.Errorf("plan note %q: want one exactly when there is no gate", note)
			}
		})
	}
}

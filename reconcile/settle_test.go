package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/schema"
)

// TestSettleRunsOnlyWhatInstallsExplain: the settle run was not reviewed
// resource by resource, so terraform's plan is applied only when every
// change is a recorded node's matchbox group switch or install-profile
// removal; anything else (another node, another resource, a destroy of
// the node's final profile) is refused with nothing applied.
func TestSettleRunsOnlyWhatInstallsExplain(t *testing.T) {
	const host = "node-1.k8s.localdomain"
	c := Change{Layer: LayerSettle, Action: ActionSettle, Address: "settle:terraform",
		Detail: &Detail{Provisioner: schema.Flatcar, Nodes: []string{"node-1"}, Hosts: []string{host}}}
	for name, tc := range map[string]struct {
		changes []provision.ResourceChange
		applied bool
	}{
		"group replaced": {[]provision.ResourceChange{{Address: `module.flatcar.matchbox_group.node["` + host + `"]`, Node: host, Actions: []string{"delete", "create"}}}, true},
		"group updated and install profile dropped": {[]provision.ResourceChange{
			{Address: `module.flatcar.matchbox_group.node["` + host + `"]`, Node: host, Actions: []string{"update"}},
			{Address: `module.flatcar.matchbox_profile.install["` + host + `"]`, Node: host, Actions: []string{"delete"}}}, true},
		"another node's group":    {[]provision.ResourceChange{{Address: `module.flatcar.matchbox_group.node["node-2.k8s.localdomain"]`, Node: "node-2.k8s.localdomain", Actions: []string{"update"}}}, false},
		"final profile destroyed": {[]provision.ResourceChange{{Address: `module.flatcar.matchbox_profile.node["` + host + `"]`, Node: host, Actions: []string{"delete"}}}, false},
		"install profile created": {[]provision.ResourceChange{{Address: `module.flatcar.matchbox_profile.install["` + host + `"]`, Node: host, Actions: []string{"create"}}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			tf := &fakeTF{changes: tc.changes}
			e := &SettleExecutor{Root: t.TempDir(), Provisioner: &ProvisionerExecutor{Terraform: tf}}
			err := e.Apply(context.Background(), c)
			if applied := tf.applys == 1; applied != tc.applied || (err == nil) != tc.applied {
				t.Fatalf("applied %v, err %v; want applied %v", applied, err, tc.applied)
			}
			if err != nil && !strings.Contains(err.Error(), "nothing applied") {
				t.Errorf("refusal does not say nothing was applied: %v", err)
			}
		})
	}
}

// TestSettleBootDiskNeedsRecordedInstall: a node whose install was not
// recorded (its verify failed) keeps its boot device.
func TestSettleBootDiskNeedsRecordedInstall(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 1)
	x := &SettleExecutor{Root: e.root, BMC: e.bmc}
	c := Change{Layer: LayerSettle, Action: ActionSetBootDisk, Address: "settle:bmc:node-0", Node: "node-0",
		Detail: &Detail{BMCAddress: "127.0.0.1:623", FlagFile: "home/core/flatcar-container-linux/assets/aa"}}
	if err := x.Apply(context.Background(), c); err == nil || !strings.Contains(err.Error(), "install not recorded") {
		t.Fatalf("boot disk without a flag file: %v", err)
	}
	if len(e.bmc.calls) != 0 {
		t.Errorf("BMC called for a node whose install was not recorded: %v", e.bmc.calls)
	}
}

// TestVerifyAssumedIsNoted: with installs recorded without looking
// (--verify flag), a plan that installs says so; an observed verify does
// not, and nothing is noted when no node installs.
func TestVerifyAssumedIsNoted(t *testing.T) {
	const note = "installs are assumed, not observed"
	for _, tc := range []struct {
		assumed, install, want bool
	}{{true, true, true}, {false, true, false}, {true, false, false}} {
		e := newRackEnv(t, schema.Flatcar, 3)
		e.converge()
		if tc.install {
			e.rack.Nodes[1].Reprovision = "again"
		}
		cfg := e.layers()
		cfg.VerifyAssumed = tc.assumed
		timeNow = func() time.Time { return e.now }
		p, err := Build(context.Background(), e.rack, PlanOptions{Root: e.root, StateDir: e.st, Layers: cfg, Now: func() time.Time { return e.now }})
		if err != nil {
			t.Fatal(err)
		}
		noted := strings.Contains(strings.Join(p.Notes, "\n"), note)
		if noted != tc.want {
			t.Errorf("assumed %v, install %v: noted %v, want %v (notes %q)", tc.assumed, tc.install, noted, tc.want, p.Notes)
		}
	}
}

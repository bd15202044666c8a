package reconcile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// noop1000 is the generated 1000-node rack of provisioner prov with its
// files applied and every node installed, against recording
// fakes of dnsmasq, the BMCs and the provisioners, every layer on.
func noop1000(tb testing.TB, prov string) *rackEnv {
	tb.Helper()
	rack, err := schema.Load(benchSpec(tb, 1000, prov))
	if err != nil {
		tb.Fatal(err)
	}
	e := newRackEnv(tb, rack.Provisioner, 0)
	e.rack = rack
	e.converge()
	// Settle acts on installs just recorded: none are left to a no-op
	// plan, but the layer is on like the others. (The fake terraform does
	// not model a settle run, so the rack converges without it.)
	e.settle = true
	e.tf.inits, e.tf.plans = 0, 0
	return e
}

// checkNoopPlan fails tb when the plan has changes.
func checkNoopPlan(tb testing.TB, p *Plan) {
	tb.Helper()
	if p.HasChanges() {
		addrs := layerAddrs(p.Changes, "")
		tb.Fatalf("no-op plan has changes: %v", addrs[:min(5, len(addrs))])
	}
}

// processes counts the fakes' calls that stand for a process started by
// the real drivers: terraform init, plan and apply, lokoctl, a dnsmasq
// reload. (BMC reads and writes are RMCP+ or Redfish requests made in
// process, counted apart; reading the lease file starts nothing.)
func (e *rackEnv) processes() int {
	e.tf.mu.Lock()
	defer e.tf.mu.Unlock()
	return e.tf.inits + e.tf.plans + e.tf.applys + e.loko.applies + e.dhcp.reloads
}

// checkNoMutations fails tb when planning made any mutating call or
// started any process.
func checkNoMutations(tb testing.TB, e *rackEnv) {
	tb.Helper()
	if m := e.bmc.mutations(); len(m) != 0 || e.processes() != 0 || len(e.dhcp.released) != 0 {
		tb.Fatalf("no-op reconcile: BMC writes %v, processes %d (terraform init %d, plan %d, apply %d; lokoctl %d; dnsmasq reloads %d), lease releases %v",
			m, e.processes(), e.tf.inits, e.tf.plans, e.tf.applys, e.loko.applies, e.dhcp.reloads, e.dhcp.released)
	}
}

// checkOneReprovision reprovisions node 500: the plan acts on it alone.
func checkOneReprovision(tb testing.TB, e *rackEnv) int {
	tb.Helper()
	e.rack.Nodes[500].Reprovision = "once"
	defer func() { e.rack.Nodes[500].Reprovision = "" }()
	p := e.plan()
	if got := changedNodes(p.Changes); !slices.Equal(got, []string{e.rack.Nodes[500].Name}) {
		tb.Fatalf("one changed node: changes for %v", got)
	}
	return len(slices.DeleteFunc(slices.Clone(p.Changes), func(c Change) bool { return c.Action == ActionNoop }))
}

// TestNoopPlan1000 is issue 17's target 6, checked in every test run (the
// figure is BenchmarkNoopPlan1000's): a no-op reconcile of 1000 nodes with
// every layer on (BMC power reads, DHCP leases, files, flags, provisioner,
// verify, settle), plan and apply, is empty, starts no process and writes
// to no BMC, for either provisioner. Flatcar's terraform plan is skipped
// because its inputs are the ones its last successful run left, and the
// plan says so; without that record the same plan starts terraform (the
// count sees it). One reprovisioned node yields that node's actions only.
func TestNoopPlan1000(t *testing.T) {
	for _, prov := range []string{"lokomotive", "flatcar"} {
		t.Run(prov, func(t *testing.T) {
			e := noop1000(t, prov)
			reads := e.bmc.reads
			p := e.plan()
			checkNoopPlan(t, p)
			checkNoMutations(t, e)
			if e.bmc.reads == reads {
				t.Fatal("the no-op plan read no BMC: it did not observe the rack")
			}
			if res := e.mustApply(p); res.Outcome != OutcomeSuccess || len(res.Done) != 0 {
				t.Fatalf("apply of the no-op plan: %s, %d done", res.Outcome, len(res.Done))
			}
			checkNoMutations(t, e)
			if prov != "flatcar" {
				return
			}
			if !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, "not re-planned, inputs unchanged since") }) {
				t.Errorf("the plan does not say terraform was not re-planned: %q", p.Notes)
			}
			t.Logf("one reprovisioned node: %d changes", checkOneReprovision(t, e))
			e.tf.inits, e.tf.plans = 0, 0
			if err := os.Remove(filepath.Join(e.st, state.ProvisionerFile)); err != nil {
				t.Fatal(err)
			}
			checkNoopPlan(t, e.plan())
			if e.tf.plans != 1 {
				t.Errorf("without the record, the plan ran terraform plan %d times, want 1", e.tf.plans)
			}
		})
	}
}

// BenchmarkNoopPlan1000 times the no-op plan of TestNoopPlan1000 and checks
// the same.
func BenchmarkNoopPlan1000(b *testing.B) {
	for _, prov := range []string{"lokomotive", "flatcar"} {
		b.Run(prov, func(b *testing.B) {
			e := noop1000(b, prov)
			reads := e.bmc.reads
			b.ResetTimer()
			for b.Loop() {
				checkNoopPlan(b, e.plan())
			}
			b.StopTimer()
			checkNoMutations(b, e)
			b.ReportMetric(float64(e.bmc.reads-reads)/float64(b.N), "bmc-reads/op")
			b.Logf("one reprovisioned node: %d changes", checkOneReprovision(b, e))
		})
	}
}

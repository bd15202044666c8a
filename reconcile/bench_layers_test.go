package reconcile

import (
	"slices"
	"testing"

	"github.com/rackctl/rackctl/schema"
)

// noop1000 is the 1000-node example with its files applied and every node
// installed, against recording fakes of dnsmasq, the BMCs and the
// provisioner.
func noop1000(tb testing.TB) *rackEnv {
	tb.Helper()
	rack, err := schema.Load("../spec-examples/rack-1000.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	e := newRackEnv(tb, rack.Provisioner, 0)
	e.rack = rack
	e.converge()
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

// checkNoMutations fails tb when planning made any mutating call.
func checkNoMutations(tb testing.TB, e *rackEnv) {
	tb.Helper()
	if m := e.bmc.mutations(); len(m) != 0 || e.loko.applies != 0 || e.tf.applys != 0 || e.dhcp.reloads != 0 || len(e.dhcp.released) != 0 {
		tb.Fatalf("mutating calls in no-op plans: bmc %v, lokoctl %d, terraform %d, reloads %d, releases %v",
			m, e.loko.applies, e.tf.applys, e.dhcp.reloads, e.dhcp.released)
	}
}

// checkOneReprovision reprovisions node 500: the plan acts on it alone.
func checkOneReprovision(tb testing.TB, e *rackEnv) int {
	tb.Helper()
	e.rack.Nodes[500].Reprovision = "once"
	p := e.plan()
	if got := changedNodes(p.Changes); !slices.Equal(got, []string{e.rack.Nodes[500].Name}) {
		tb.Fatalf("one changed node: changes for %v", got)
	}
	return len(slices.DeleteFunc(slices.Clone(p.Changes), func(c Change) bool { return c.Action == ActionNoop }))
}

// TestNoopPlan1000 is what BenchmarkNoopPlan1000's figure claims, checked
// in every test run: a no-op plan of 1000 nodes is empty and makes no
// mutating call (no BMC write, provisioner run, dnsmasq reload or lease
// release), and one reprovisioned node yields that node's actions only.
func TestNoopPlan1000(t *testing.T) {
	e := noop1000(t)
	reads := e.bmc.reads
	checkNoopPlan(t, e.plan())
	checkNoMutations(t, e)
	if e.bmc.reads == reads {
		t.Fatal("the no-op plan read no BMC: it did not observe the rack")
	}
	t.Logf("one reprovisioned node: %d changes", checkOneReprovision(t, e))
	checkNoMutations(t, e)
}

// BenchmarkNoopPlan1000 times the no-op plan of TestNoopPlan1000 and checks
// the same.
func BenchmarkNoopPlan1000(b *testing.B) {
	e := noop1000(b)
	reads := e.bmc.reads
	b.ResetTimer()
	for b.Loop() {
		checkNoopPlan(b, e.plan())
	}
	b.StopTimer()
	checkNoMutations(b, e)
	b.ReportMetric(float64(e.bmc.reads-reads)/float64(b.N), "bmc-reads/op")
	b.Logf("one reprovisioned node: %d changes", checkOneReprovision(b, e))
}

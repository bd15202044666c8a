package reconcile

import (
	"slices"
	"testing"

	"github.com/rackctl/rackctl/schema"
)

// BenchmarkNoopPlan1000 plans the 1000-node example with its files already
// applied and every node installed, against recording fakes of dnsmasq,
// the BMCs and the provisioner: the plan is empty and runs no mutating
// command. A reprovision of one node then yields that node's actions only.
func BenchmarkNoopPlan1000(b *testing.B) {
	rack, err := schema.Load("../spec-examples/rack-1000.yaml")
	if err != nil {
		b.Fatal(err)
	}
	e := newRackEnv(b, rack.Provisioner, 0)
	e.rack = rack
	e.converge()
	reads := e.bmc.reads
	b.ResetTimer()
	for b.Loop() {
		if p := e.plan(); p.HasChanges() {
			b.Fatalf("no-op plan has changes: %v", layerAddrs(p.Changes, "")[:5])
		}
	}
	b.StopTimer()
	if m := e.bmc.mutations(); len(m) != 0 || e.loko.applies != 0 || e.tf.applys != 0 || e.dhcp.reloads != 0 || len(e.dhcp.released) != 0 {
		b.Fatalf("mutating calls in no-op plans: bmc %v, lokoctl %d, terraform %d, reloads %d, releases %v",
			m, e.loko.applies, e.tf.applys, e.dhcp.reloads, e.dhcp.released)
	}
	b.ReportMetric(float64(e.bmc.reads-reads)/float64(b.N), "bmc-reads/op")

	e.rack.Nodes[500].Reprovision = "once"
	p := e.plan()
	if got := changedNodes(p.Changes); !slices.Equal(got, []string{e.rack.Nodes[500].Name}) {
		b.Fatalf("one changed node: changes for %v", got)
	}
	b.Logf("one reprovisioned node: %d changes", len(slices.DeleteFunc(slices.Clone(p.Changes), func(c Change) bool { return c.Action == ActionNoop })))
}

package reconcile

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/spec-examples/gen/rackgen"
)

// benchSpec writes the generated spec of n nodes to a temp file.
func benchSpec(tb testing.TB, n int, prov string) string {
	tb.Helper()
	src, err := rackgen.Bytes(n, prov)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "rack.yaml")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// validatePlan is what `rackctl plan` does with the files layer on an
// empty host: load and validate the spec, build the plan, print it.
func validatePlan(tb testing.TB, spec, root string) *Plan {
	rack, err := schema.LoadContext(context.Background(), spec)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := Build(context.Background(), rack, PlanOptions{Root: root, StateDir: filepath.Join(root, "var/lib/rackctl")})
	if err != nil {
		tb.Fatal(err)
	}
	if err := WriteHuman(io.Discard, p, false); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkValidatePlan1000 is target 1 of issue 17 in process: validate +
// plan of the 1000-node spec (files layer, empty host), per provisioner;
// make bench divides it by schema's BenchmarkCUEFloor of the same spec.
// Every iteration must plan a create for each node's files.
func BenchmarkValidatePlan1000(b *testing.B) {
	for _, prov := range []string{"lokomotive", "flatcar"} {
		b.Run(prov, func(b *testing.B) {
			spec, root := benchSpec(b, 1000, prov), b.TempDir()
			b.ReportAllocs()
			for b.Loop() {
				p := validatePlan(b, spec, root)
				if c := p.Counts(); c.Add < 2000 || c.Change+c.Destroy != 0 {
					b.Fatalf("plan of an empty host: %+v, want ≥ 2000 creates and nothing else", c)
				}
			}
		})
	}
}

// BenchmarkFirstApply1000 is target 3 of issue 17 for the files layer
// alone: applying the plan of the 1000-node spec to an empty host (the
// plan is made outside the timer). Each iteration must write every file
// and leave a host whose next plan is empty.
func BenchmarkFirstApply1000(b *testing.B) {
	spec := benchSpec(b, 1000, "lokomotive")
	var files int
	for b.Loop() {
		b.StopTimer()
		root := b.TempDir()
		state := filepath.Join(root, "var/lib/rackctl")
		p := validatePlan(b, spec, root)
		b.StartTimer()
		res, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state})
		b.StopTimer()
		if err != nil || res.Outcome != OutcomeSuccess || len(res.Done) != len(p.Changes) {
			b.Fatalf("apply: %v, outcome %s, %d of %d done", err, res.Outcome, len(res.Done), len(p.Changes))
		}
		if again := validatePlan(b, spec, root); again.HasChanges() {
			b.Fatal("the plan after the first apply has changes")
		}
		files = len(p.Changes)
		b.StartTimer()
	}
	b.ReportMetric(float64(files), "files/op")
}

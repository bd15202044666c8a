package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/schema"
)

// TestReconcilerApplyReopensForAnotherRack: Apply reuses the drivers of
// the Plan before it only for the same rack; for another revision it
// opens that revision's drivers (here they refuse: its bmc.rotate needs a
// driver that can rotate), never the previous revision's.
func TestReconcilerApplyReopensForAnotherRack(t *testing.T) {
	d := filesOnly
	d.BMC = "auto"
	e, rack := newEngine(t, lokomotiveSpec, d)
	registerFake(t, e, &fakeBMC{})
	rec, err := e.Reconciler()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := rec.Plan(ctx, rack, "c1")
	if err != nil {
		t.Fatal(err)
	}
	next, err := schema.Load(lokomotiveSpec)
	if err != nil {
		t.Fatal(err)
	}
	next.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/new_pw"}
	if _, err := rec.Apply(ctx, next, p); err == nil || !strings.Contains(err.Error(), "bmc.rotate") {
		t.Errorf("Apply of another revision: %v, want its own drivers (refusing bmc.rotate)", err)
	}
}

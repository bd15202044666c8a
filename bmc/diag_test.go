package bmc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// TestIPMIDiagDeadBMCOneTimeout: the inventory is a call of its own after
// the diagnostics, but a BMC that did not answer those is not asked for
// it: a dead BMC costs one timeout in status --full, not two.
func TestIPMIDiagDeadBMCOneTimeout(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	if err := rack.Stop(0); err != nil {
		t.Fatal(err)
	}
	const timeout = 1500 * time.Millisecond
	c := newClient(t, bmc.Config{Timeout: timeout, Retries: -1})
	start := time.Now()
	d := c.Diag(t.Context(), target(rack.BMCs[0]))
	took := time.Since(start)
	if !errors.Is(d.Err, bmc.ErrUnreachable) || d.Inventory != (bmc.Inventory{}) {
		t.Fatalf("diag of a dead BMC: %+v, want unreachable and no inventory", d)
	}
	if took > timeout+timeout/2 {
		t.Errorf("diag of a dead BMC took %v, want about one timeout (%v)", took, timeout)
	}
}

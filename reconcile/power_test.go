package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
)

// slowBMC switches a node back on only after offReads power reads, as real
// BMCs (and ipmi_sim) do some time after a cycle.
type slowBMC struct {
	state    string
	offReads int
	actions  []string
}

func (s *slowBMC) PowerState(context.Context, bmc.Target) (string, error) {
	if s.state == bmc.PowerOn && s.offReads > 0 && len(s.actions) > 0 {
		s.offReads--
		return bmc.PowerOff, nil
	}
	return s.state, nil
}

func (s *slowBMC) SetPower(_ context.Context, _ bmc.Target, action string) error {
	s.actions = append(s.actions, action)
	s.state = bmc.PowerOn
	return nil
}

func (s *slowBMC) BootDevice(context.Context, bmc.Target) (bmc.BootParam, error) {
	return bmc.BootParam{}, nil
}

func (s *slowBMC) SetBootDevice(context.Context, bmc.Target, string, bool, bool) error { return nil }

func TestPowerCycleWaitsForPowerOn(t *testing.T) {
	defer func(d time.Duration) { powerOnWait = d }(powerOnWait)
	powerOnWait = 5 * time.Second
	b := &slowBMC{state: bmc.PowerOn, offReads: 3}
	start := time.Now()
	if err := powerCycle(context.Background(), b, bmc.Target{Node: "n"}); err != nil {
		t.Fatal(err)
	}
	if b.offReads != 0 {
		t.Errorf("returned while the BMC still reported off (%d reads left)", b.offReads)
	}
	if len(b.actions) != 1 || b.actions[0] != bmc.PowerCycle {
		t.Errorf("actions %v, want one cycle", b.actions)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Error("did not poll between reads")
	}
}

func TestPowerCycleGivesUp(t *testing.T) {
	defer func(d time.Duration) { powerOnWait = d }(powerOnWait)
	powerOnWait = 600 * time.Millisecond
	b := &slowBMC{state: bmc.PowerOff, offReads: 1 << 30}
	err := powerCycle(context.Background(), b, bmc.Target{Node: "n"})
	if err == nil || !strings.Contains(err.Error(), "still off") {
		t.Fatalf("err = %v, want a still-off error", err)
	}
	if b.actions[0] != bmc.PowerOn {
		t.Errorf("an off node got %v, want power on", b.actions)
	}
}

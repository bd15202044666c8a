package bmc_test

import (
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// TestIPMIInventoryAndSlots: the IPMI side of the inventory and account
// contract against ipmi_sim (63 user slots, no fixed names).
func TestIPMIInventoryAndSlots(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	c := newClient(t, bmc.Config{Timeout: 5 * time.Second})
	tg := target(rack.BMCs[0])
	inv, err := c.Inventory(t.Context(), tg)
	if err != nil || inv.BMCVersion == "" {
		t.Fatalf("Inventory = %+v, %v; want the BMC firmware revision", inv, err)
	}
	first, last, err := c.AccountSlots(t.Context(), tg)
	if err != nil || first != 2 || last != 63 {
		t.Fatalf("AccountSlots = %d, %d, %v; want 2, 63", first, last, err)
	}
}

func TestParseUserSummary(t *testing.T) {
	tests := map[string]struct {
		out          string
		maxID, fixed int
		wantErr      bool
	}{
		"ipmi_sim":     {out: "Maximum IDs\t    : 63\nEnabled User Count  : 1\nFixed Name Count    : 0\n", maxID: 63},
		"fixed names":  {out: "Maximum IDs : 10\nFixed Name Count : 2\n", maxID: 10, fixed: 2},
		"capped at 63": {out: "Maximum IDs : 200\n", maxID: 63},
		"garbage":      {out: "nothing here", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, f, err := bmc.ParseUserSummary(tc.out)
			if (err != nil) != tc.wantErr || m != tc.maxID || f != tc.fixed {
				t.Fatalf("ParseUserSummary = %d, %d, %v; want %d, %d, error %v", m, f, err, tc.maxID, tc.fixed, tc.wantErr)
			}
		})
	}
}

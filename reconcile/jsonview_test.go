package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/ipam"
)

// TestPlanView maps each kind of change to its documented view and keeps
// the saved plan's internals out of it.
func TestPlanView(t *testing.T) {
	const secretish = "CONTENT-THAT-MUST-NOT-LEAK"
	p := &Plan{
		RackName: "r", Provisioner: "lokomotive",
		Changes: []Change{
			{Layer: LayerFiles, Action: ActionUpdate, Address: "file:etc/hosts", Content: []byte(secretish), Mode: 0o644, Block: true,
				Diff: "--- a\n+++ b\n-old\n+new\n+more\n"},
			{Layer: LayerFiles, Action: ActionNoop, Address: "file:a"},
			{Layer: LayerFlags, Action: ActionDelete, Address: "file:flags/aa", Node: "n1", Disruptive: true},
			{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:lokoctl", Disruptive: true,
				Detail: &Detail{Nodes: []string{"n1"}, Reboots: []string{"n3", "n2"}, Terraform: &TerraformSummary{Add: 1, Digest: "DIGEST-INTERNAL"}}},
			{Layer: LayerBMC, Action: ActionPXEReinstall, Address: "bmc:n1", Node: "n1", Disruptive: true, Detail: &Detail{BMCAddress: "127.0.0.1:623"}},
		},
		Allocations: []ipam.Change{{Node: "n4", NIC: ipam.Primary, New: netip.MustParseAddr("10.0.0.9"), Reason: ipam.ReasonNew}},
		Observed: Observations{FileKey("etc/hosts"): "sha256:abcd", FileKey("a"): "sha256:ef01", FileKey("flags/aa"): "sha256:99",
			NodeKey(LayerBMC, "n1", AspectPower): "OBSERVED-POWER"},
	}
	v := NewPlanView(p)
	var b bytes.Buffer
	if err := WritePlanView(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{secretish, "DIGEST-INTERNAL", "OBSERVED-POWER", "nextState", "observed"} {
		if strings.Contains(b.String(), leak) {
			t.Errorf("the view holds %q:\n%s", leak, b.String())
		}
	}
	if v.FormatVersion != ViewFormatVersion || !v.HasChanges || v.Counts != (CountsView{Add: 0, Change: 3, Destroy: 1, Noop: 1}) {
		t.Errorf("header: %+v %+v", v.FormatVersion, v.Counts)
	}
	tests := map[string]struct {
		i                  int
		address            string
		before, after      *FileStateView
		interrupts, reboot []string
	}{
		"managed block update": {i: 0, address: "files/file:etc/hosts",
			before: &FileStateView{Exists: true, SHA256: "abcd"},
			after:  &FileStateView{Exists: true, SHA256: hexSum(secretish), Mode: "0644", ManagedBlock: true}},
		"noop keeps the file": {i: 1, address: "files/file:a", before: &FileStateView{Exists: true, SHA256: "ef01"}, after: &FileStateView{Exists: true, SHA256: "ef01"}},
		"flag file deleted":   {i: 2, address: "flags/file:flags/aa", before: &FileStateView{Exists: true, SHA256: "99"}, after: &FileStateView{}, interrupts: []string{"n1"}, reboot: []string{}},
		"lokoctl reboots":     {i: 3, address: "provisioner/provisioner:lokoctl", interrupts: []string{}, reboot: []string{"n3", "n2"}},
		"pxe reinstall":       {i: 4, address: "bmc/bmc:n1", interrupts: []string{"n1"}, reboot: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := v.Changes[tc.i]
			if c.Address != tc.address {
				t.Errorf("address %q, want %q", c.Address, tc.address)
			}
			if (c.Before == nil) != (tc.before == nil) || c.Before != nil && *c.Before != *tc.before {
				t.Errorf("before %+v, want %+v", c.Before, tc.before)
			}
			if (c.After == nil) != (tc.after == nil) || c.After != nil && (c.After.Exists != tc.after.Exists || c.After.SHA256 != tc.after.SHA256 ||
				c.After.Mode != tc.after.Mode || c.After.ManagedBlock != tc.after.ManagedBlock) {
				t.Errorf("after %+v, want %+v", c.After, tc.after)
			}
			if tc.interrupts == nil {
				if c.Disruption != nil {
					t.Errorf("disruption %+v, want none", c.Disruption)
				}
				return
			}
			if c.Disruption == nil || !slices.Equal(c.Disruption.Interrupts, tc.interrupts) || !slices.Equal(c.Disruption.Reboots, tc.reboot) {
				t.Errorf("disruption %+v, want interrupts %v reboots %v", c.Disruption, tc.interrupts, tc.reboot)
			}
		})
	}
	if a := v.Changes[0].After; a.Size == nil || *a.Size != len(secretish) {
		t.Errorf("after of the block: size %v, want %d", a.Size, len(secretish))
	}
	if l := v.Changes[0].Lines; l == nil || *l != (LinesView{Added: 2, Removed: 1}) {
		t.Errorf("lines %+v, want 2 added, 1 removed", l)
	}
	if d := v.Disruption; !d.Disruptive || !slices.Equal(d.Interrupted, []string{"n1"}) || !slices.Equal(d.Rebooted, []string{"n2", "n3"}) {
		t.Errorf("plan disruption %+v", d)
	}
	if len(v.AddressChanges) != 1 || v.AddressChanges[0] != (AddressChangeView{Node: "n4", NIC: "primary", New: "10.0.0.9", Reason: "new"}) {
		t.Errorf("address changes %+v", v.AddressChanges)
	}
	var generic map[string]any
	if err := json.Unmarshal(b.Bytes(), &generic); err != nil || generic["targets"] == nil || generic["notes"] == nil {
		t.Errorf("empty lists must be [] not null: %v\n%s", err, b.String())
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

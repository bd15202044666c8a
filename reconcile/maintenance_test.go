package reconcile

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/schema"
)

// A lease of a node in maintenance that disagrees with its reservation is
// not fixed (no release, no renew or power cycle): the plan notes it. The
// same lease of a node not in maintenance is released.
func TestMaintenanceSkipsDriftFix(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	stray := netip.MustParseAddr("172.24.213.200") // in the subnet, no node's
	e.dhcp.leases = []dhcp.Lease{{Expiry: e.now.Add(time.Hour), MAC: e.rack.Nodes[1].MAC, IP: stray, Hostname: "node-1"}}

	p := e.plan()
	if got := layerAddrs(p.Changes, LayerDHCP); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "release-lease") }) {
		t.Fatalf("control: the stray lease of node-1 is not released: dhcp changes %v, notes %q", got, p.Notes)
	}

	e.rack.Nodes[1].Maintenance = true
	p = e.plan()
	for _, c := range p.Changes {
		if c.Node == "node-1" {
			t.Errorf("change for node-1 in maintenance: %s %s", c.Action, c.Address)
		}
	}
	if !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.HasPrefix(n, "maintenance: node-1: skipped: dhcp drift fix") }) {
		t.Errorf("notes %q lack the skipped drift fix of node-1", p.Notes)
	}
	e.mustApply(p)
	if got := e.bmc.mutations(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "node-1") }) {
		t.Errorf("bmc calls on node-1 in maintenance: %v", got)
	}
	if len(e.dhcp.released) != 0 {
		t.Errorf("leases released: %v", e.dhcp.released)
	}
}

// lokoctl cannot leave one node out of a shared change: when its run
// reboots a node in maintenance, the plan says so rather than hiding it.
func TestMaintenanceLokoctlRebootNoted(t *testing.T) {
	e := newRackEnv(t, schema.Lokomotive, 3)
	e.converge()
	e.rack.Nodes[1].Maintenance = true
	if p := e.plan(); p.HasChanges() {
		t.Fatalf("setting maintenance alone plans changes: %v", layerAddrs(p.Changes, ""))
	}
	e.rack.Cluster.SSHPubKeys = append(e.rack.Cluster.SSHPubKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk5 new@example")
	p := e.plan()
	notes := slices.Clone(p.Notes)
	for _, c := range p.Changes {
		notes = append(notes, c.Notes...)
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.HasPrefix(n, "maintenance: "+e.rack.Nodes[1].Name+": lokoctl's run reboots it too")
	}) {
		t.Errorf("notes %q do not say lokoctl reboots the node in maintenance", notes)
	}
}

package api

import (
	"testing"

	"github.com/rackctl/rackctl/view"
)

// nodes[].maintenance says where a node's maintenance comes from: the
// spec, a local override (drift from git), or a local override that took
// it out although the spec says maintenance: true.
func TestNodeMaintenanceSource(t *testing.T) {
	for name, c := range map[string]struct {
		in   view.NodeStatus
		want string
	}{
		"none":       {view.NodeStatus{}, ""},
		"spec":       {view.NodeStatus{Maintenance: true}, MaintenanceSpec},
		"local on":   {view.NodeStatus{Maintenance: true, MaintenanceLocal: true}, MaintenanceLocal},
		"local off":  {view.NodeStatus{MaintenanceLocal: true}, MaintenanceOffLocal},
		"excl. none": {view.NodeStatus{Excluded: true}, ""},
	} {
		if got := nodeState(c.in).Maintenance; got != c.want {
			t.Errorf("%s: maintenance %q, want %q", name, got, c.want)
		}
	}
}

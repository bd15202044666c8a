package state

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/ipam"
)

// LoadAllocation reads allocation.json. A missing file is an empty state (a
// rack never applied before).
func (d Dir) LoadAllocation() (ipam.State, error) {
	path := d.File(AllocationFile)
	var s ipam.State
	found, err := atomicfile.ReadJSON(path, &s)
	if err != nil {
		return ipam.State{}, fmt.Errorf("read allocation: %w", err)
	}
	if !found {
		return ipam.State{Version: ipam.StateVersion}, nil
	}
	if s.Version != ipam.StateVersion {
		return ipam.State{}, fmt.Errorf("allocation %s: unsupported version %d (this rackctl reads version %d)", path, s.Version, ipam.StateVersion)
	}
	for i, e := range s.Entries {
		if !e.IP.IsValid() || e.Node == "" || (e.NIC != ipam.Primary && e.NIC != ipam.BMC) {
			return ipam.State{}, fmt.Errorf("allocation %s: entry %d (node %q, nic %q, ip %v) is incomplete", path, i, e.Node, e.NIC, e.IP)
		}
	}
	return s, nil
}

// SaveAllocation writes s to allocation.json atomically (temp file in the
// same directory, fsync, rename) as sorted, indented JSON with mode 0644.
func (d Dir) SaveAllocation(s ipam.State) error {
	s.Version = ipam.StateVersion
	s.Entries = slices.Clone(s.Entries)
	if s.Entries == nil {
		s.Entries = []ipam.Entry{}
	}
	ipam.SortEntries(s.Entries)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode allocation: %w", err)
	}
	b = append(b, '\n')
	if err := atomicfile.Write(d.File(AllocationFile), b, 0o644); err != nil {
		return fmt.Errorf("save allocation: %w", err)
	}
	return nil
}

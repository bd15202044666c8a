package ipam

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// LoadState reads allocation.json. A missing file is an empty state (a rack
// never applied before).
func LoadState(path string) (State, error) {
	var s State
	found, err := atomicfile.ReadJSON(path, &s)
	if err != nil {
		return State{}, fmt.Errorf("ipam: read state: %w", err)
	}
	if !found {
		return State{Version: StateVersion}, nil
	}
	if s.Version != StateVersion {
		return State{}, fmt.Errorf("ipam: state %s: unsupported version %d (this rackctl reads version %d)", path, s.Version, StateVersion)
	}
	for i, e := range s.Entries {
		if !e.IP.IsValid() || e.Node == "" || (e.NIC != Primary && e.NIC != BMC) {
			return State{}, fmt.Errorf("ipam: state %s: entry %d (node %q, nic %q, ip %v) is incomplete", path, i, e.Node, e.NIC, e.IP)
		}
	}
	return s, nil
}

// SaveState writes s to path atomically (temp file in the same directory,
// fsync, rename) as sorted, indented JSON with mode 0644.
func SaveState(path string, s State) error {
	s.Version = StateVersion
	s.Entries = slices.Clone(s.Entries)
	if s.Entries == nil {
		s.Entries = []Entry{}
	}
	sortEntries(s.Entries)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("ipam: encode state: %w", err)
	}
	b = append(b, '\n')
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("ipam: save state: %w", err)
	}
	return nil
}

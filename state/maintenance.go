package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"syscall"
	"time"
)

// MaintenanceFile holds the local maintenance overrides (maintenance.json,
// `rackctl maintenance NODE on|off`); it is part of the on-disk format,
// like the names in dir.go.
const MaintenanceFile = "maintenance.json"

// maintenanceLockFile serializes the read-change-write of
// maintenance.json (UpdateMaintenance) across processes.
const maintenanceLockFile = "maintenance.lock"

// MaintenanceVersion is the version of maintenance.json.
const MaintenanceVersion = 1

// Bounds of maintenance.json: a reason is cut to MaxMaintenanceReason
// bytes, and no more than MaxMaintenanceOverrides nodes are held (a rack
// has far fewer); a load refuses a file beyond maxMaintenanceSize.
const (
	MaxMaintenanceReason    = 1024
	MaxMaintenanceOverrides = 10000
	maxMaintenanceSize      = 16 << 20
)

// Maintenance is maintenance.json: per node name, the maintenance flag an
// operator set locally, which the engine applies over the spec's
// nodes[].maintenance until rack.yaml says the same (then it is spent).
type Maintenance struct {
	Version int                            `json:"version"`
	Nodes   map[string]MaintenanceOverride `json:"nodes"`
}

// MaintenanceOverride is one node's local maintenance flag, and who set
// it, when and why.
type MaintenanceOverride struct {
	// Maintenance is the flag in force for the node: true takes it out
	// of automation, false puts it back although the spec says true.
	Maintenance bool `json:"maintenance"`
	// By is who set it: the login name (with sudo: "root (sudo alice)").
	By string `json:"by"`
	// At is when it was set, UTC.
	At time.Time `json:"at"`
	// Reason is the operator's --reason, if any.
	Reason string `json:"reason,omitempty"`
}

// LoadMaintenance reads maintenance.json; a missing file is no override
// (Version 0, no nodes). A file that does not parse is an error: the
// engine must not guess which nodes an operator took out.
func (d Dir) LoadMaintenance() (Maintenance, error) {
	const hint = "fix or remove it; rackctl maintenance lists and sets the overrides"
	if fi, err := os.Stat(d.File(MaintenanceFile)); err == nil && fi.Size() > maxMaintenanceSize {
		return Maintenance{}, fmt.Errorf("maintenance overrides %s: %d bytes, more than %d (%s)", d.File(MaintenanceFile), fi.Size(), maxMaintenanceSize, hint)
	}
	var m Maintenance
	found, err := d.readJSON(MaintenanceFile, "maintenance overrides", hint, &m)
	if !found || err != nil {
		return Maintenance{}, err
	}
	if m.Version != MaintenanceVersion {
		return Maintenance{}, fmt.Errorf("maintenance overrides %s: version %d, this rackctl reads %d (%s)", d.File(MaintenanceFile), m.Version, MaintenanceVersion, hint)
	}
	return m, nil
}

// SaveMaintenance writes maintenance.json atomically (mode 0644), reasons
// cut to MaxMaintenanceReason bytes; with no override left the file is
// removed, so a missing file and an empty one never differ.
func (d Dir) SaveMaintenance(m Maintenance) error {
	if len(m.Nodes) == 0 {
		err := os.Remove(d.File(MaintenanceFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maintenance overrides: %w", err)
		}
		return nil
	}
	if len(m.Nodes) > MaxMaintenanceOverrides {
		return fmt.Errorf("maintenance overrides: %d nodes, at most %d are kept", len(m.Nodes), MaxMaintenanceOverrides)
	}
	m.Version = MaintenanceVersion
	for name, o := range m.Nodes {
		o.At = o.At.UTC()
		o.Reason = cut(o.Reason, MaxMaintenanceReason)
		m.Nodes[name] = o
	}
	return d.writeJSON(MaintenanceFile, "maintenance overrides", m, 0o644)
}

// UpdateMaintenance reads maintenance.json, lets change edit it and saves
// the result, holding an exclusive flock(2) on maintenance.lock meanwhile:
// two `rackctl maintenance` runs, or one and an apply removing spent
// overrides, never lose each other's write. A change that fails saves
// nothing.
func (d Dir) UpdateMaintenance(change func(*Maintenance) error) error {
	if err := d.Ensure(); err != nil {
		return err
	}
	f, err := os.OpenFile(d.File(maintenanceLockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("maintenance overrides: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("maintenance overrides: lock %s: %w", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	m, err := d.LoadMaintenance()
	if err != nil {
		return err
	}
	if m.Nodes == nil {
		m.Nodes = map[string]MaintenanceOverride{}
	}
	if err := change(&m); err != nil {
		return err
	}
	return d.SaveMaintenance(m)
}

// Names are the nodes with an override, sorted.
func (m Maintenance) Names() []string {
	out := make([]string, 0, len(m.Nodes))
	for n := range m.Nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

package watch

import (
	"time"

	"github.com/rackctl/rackctl/state"
)

// OutcomeMaintenance records an operator's `rackctl maintenance NODE
// on|off`: the node in the reason, who as Author.
const OutcomeMaintenance Outcome = "maintenance"

// SetMaintenance sets node's local maintenance override in
// maintenance.json to o, or removes it when o is nil, and records the
// operator's action in watch-events.jsonl (outcome "maintenance", trigger
// "operator", author = by), so `rackctl history` shows who took which
// node out or back, when and why. The loop needs no signal: the engine
// reads the overrides at every plan, so its next drift check, retry or
// revision sees them. Whether the node exists is the caller's check.
func SetMaintenance(stateDir, node string, o *state.MaintenanceOverride, by, reason string, now time.Time) error {
	dir := state.New(stateDir)
	m, err := dir.LoadMaintenance()
	if err != nil {
		return err
	}
	if m.Nodes == nil {
		m.Nodes = map[string]state.MaintenanceOverride{}
	}
	why := "maintenance " + node
	switch {
	case o == nil:
		delete(m.Nodes, node)
		why += ": local override removed by " + by + " (rack.yaml decides)"
	case o.Maintenance:
		m.Nodes[node] = *o
		why += " on locally by " + by
	default:
		m.Nodes[node] = *o
		why += " off locally by " + by
	}
	if reason != "" {
		why += ": " + reason
	}
	if err := dir.SaveMaintenance(m); err != nil {
		return err
	}
	return dir.AppendWatchEvent(EventRecord{Time: now.UTC(), Trigger: TriggerOperator, Outcome: OutcomeMaintenance,
		Author: by, Reason: why})
}

package watch

import (
	"slices"
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
// revision sees them, and a running loop notices the file changed at its
// next poll (PollInterval) and checks drift at once. Whether the node
// exists is the caller's check.
func SetMaintenance(stateDir, node string, o *state.MaintenanceOverride, by, reason string, now time.Time) error {
	dir := state.New(stateDir)
	why := "maintenance " + node
	switch {
	case o == nil:
		why += ": local override removed by " + by + " (rack.yaml decides)"
	case o.Maintenance:
		why += " on locally by " + by
	default:
		why += " off locally by " + by
	}
	if reason != "" {
		why += ": " + reason
	}
	err := dir.UpdateMaintenance(func(m *state.Maintenance) error {
		if o == nil {
			delete(m.Nodes, node)
		} else {
			m.Nodes[node] = *o
		}
		return nil
	})
	if err != nil {
		return err
	}
	return dir.AppendWatchEvent(EventRecord{Time: now.UTC(), Trigger: TriggerOperator, Outcome: OutcomeMaintenance,
		Author: by, Reason: why})
}

// maintenanceState is what the loop saw of maintenance.json; owned by the
// loop goroutine.
type maintenanceState struct {
	digest string    // of the file at the last poll ("" when missing)
	since  time.Time // operator records (maintenance, pin) up to here were handed to OnEvent
}

// maintenanceChanged tells whether maintenance.json changed since the
// last call (never on the first), and hands the operator records written
// meanwhile (rackctl maintenance runs in another process) to
// Config.OnEvent, so notifications see them as maintenance.changed. An
// unreadable file counts as unchanged: the next plan reports it.
func (w *Watcher) maintenanceChanged() bool {
	d, _, err := w.state.Digest(state.MaintenanceFile)
	if err != nil {
		return false
	}
	first := w.maint.since.IsZero()
	changed := !first && d != w.maint.digest
	w.maint.digest = d
	if first {
		w.maint.since = w.cfg.Now()
		return false
	}
	if changed {
		w.forwardOperatorRecords()
	}
	return changed
}

// forwardOperatorRecords hands the records other processes appended for
// an operator's action since the last call — rackctl maintenance, pin,
// unpin and rollback — to Config.OnEvent, so a running watch notifies
// them (maintenance.changed, pin.changed) as it does its own.
func (w *Watcher) forwardOperatorRecords() {
	evs, err := w.state.ReadWatchEvents()
	if err != nil {
		w.log.Warn("operator records not read", "err", err)
		return
	}
	for _, r := range evs {
		if r.Trigger != TriggerOperator || !r.Time.After(w.maint.since) ||
			!slices.Contains([]Outcome{OutcomeMaintenance, OutcomePin, OutcomeUnpin}, r.Outcome) {
			continue
		}
		w.maint.since = r.Time
		w.log.Info("operator record", "outcome", r.Outcome, "by", r.Author, "reason", r.Reason)
		if w.cfg.OnEvent != nil {
			w.cfg.OnEvent(r)
		}
	}
}

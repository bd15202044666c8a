package api

import (
	"maps"
	"slices"

	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
)

// Outcomes of watch-events.jsonl that count as errors (watch.Outcome*;
// named here as strings so the API does not depend on the loop).
var errorOutcomes = map[state.WatchOutcome]bool{
	"apply-failed": true, "rejected": true, "skipped": true, "failed": true,
}

// heldCommit is the held record of commit, newest first; nil when the
// records have none.
func heldCommit(evs []state.WatchEvent, commit string) *HeldCommit {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Outcome != "held" || e.Commit != commit {
			continue
		}
		h := &HeldCommit{Commit: e.Commit, Author: e.Author, Since: e.Time.UTC(), Reason: e.Reason,
			ApproveCommand: "rackctl approve " + e.Commit}
		if d := e.Policy; d != nil {
			h.OverLimit, h.OutsideWindow = d.OverLimit, d.OutsideWindow
			for _, role := range slices.Sorted(maps.Keys(d.Disruptive)) {
				h.Disruptive = append(h.Disruptive, view.RoleNodes{Role: role, Nodes: d.Disruptive[role]})
			}
		}
		return h
	}
	return nil
}

// lastHeld is the commit held without a loop to ask (`rackctl serve`):
// the newest record's commit when that record is a hold. A refused commit
// (skipped) does not replace what the loop holds, so it is passed over.
func lastHeld(evs []state.WatchEvent) string {
	for i := len(evs) - 1; i >= 0; i-- {
		switch evs[i].Outcome {
		case "skipped":
			continue
		case "held":
			return evs[i].Commit
		}
		return ""
	}
	return ""
}

// lastErrors are the newest error records, newest first.
func lastErrors(evs []state.WatchEvent) []LastError {
	out := []LastError{}
	for i := len(evs) - 1; i >= 0 && len(out) < MaxLastErrors; i-- {
		e := evs[i]
		if !errorOutcomes[e.Outcome] {
			continue
		}
		out = append(out, LastError{Time: e.Time.UTC(), Commit: e.Commit, Outcome: string(e.Outcome), Message: e.Reason})
	}
	return out
}

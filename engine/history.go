package engine

import (
	"fmt"
	"sort"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// HistoryEntry is one line of `rackctl history`: an apply (from
// history.jsonl) or a commit watch did not apply (from watch-events.jsonl:
// rejected, held, skipped, failed).
type HistoryEntry struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"` // apply | watch
	Commit  string    `json:"commit,omitempty"`
	Author  string    `json:"author,omitempty"`
	Changes string    `json:"changes,omitempty"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`

	Apply *reconcile.HistoryRecord `json:"apply,omitempty"`
	Watch *watch.EventRecord       `json:"watch,omitempty"`
}

// History merges the state dir's apply history and watch events, oldest
// first; limit > 0 keeps only that many of the newest.
func (e *Engine) History(limit int) ([]HistoryEntry, error) {
	st := state.New(e.cfg.StateDir)
	applies, err := st.ReadHistory()
	if err != nil {
		return nil, err
	}
	events, err := st.ReadWatchEvents()
	if err != nil {
		return nil, err
	}
	out := mergeHistory(applies, events)
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// mergeHistory merges both logs, oldest first. Watch's applied and
// apply-failed events repeat an apply record, so only their author is
// used; unchanged events record nothing that happened.
func mergeHistory(applies []reconcile.HistoryRecord, events []watch.EventRecord) []HistoryEntry {
	authors := map[string]string{}
	var out []HistoryEntry
	for i := range events {
		ev := &events[i]
		if ev.Commit != "" && ev.Author != "" {
			authors[ev.Commit] = ev.Author
		}
		switch ev.Outcome {
		case watch.OutcomeApplied, watch.OutcomeApplyFailed, watch.OutcomeUnchanged:
			continue
		}
		e := HistoryEntry{Time: ev.Time, Source: "watch", Commit: ev.Commit, Author: ev.Author,
			Outcome: string(ev.Outcome), Detail: ev.Reason, Watch: ev}
		if ev.Planned != nil {
			e.Changes = fmt.Sprintf("+%d ~%d -%d", ev.Planned.Add, ev.Planned.Change, ev.Planned.Destroy)
		}
		out = append(out, e)
	}
	for i := range applies {
		r := &applies[i]
		out = append(out, HistoryEntry{Time: r.Time, Source: "apply", Commit: r.Commit, Author: authors[r.Commit],
			Changes: r.ChangeSummary(), Outcome: string(r.Outcome), Detail: r.Error, Apply: r})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

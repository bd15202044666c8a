package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
)

// PinReader reads one commit of the followed branch, under the source's
// signature policy; source.Git is one (Git.ReadCommit).
type PinReader interface {
	ReadCommit(ctx context.Context, commit string) (*source.Revision, error)
}

var _ PinReader = (*source.Git)(nil)

// PinStatus is the pin as /healthz shows it: the pin.json record and,
// when the loop cannot follow it, why.
type PinStatus struct {
	state.Pin
	// Error says why the pinned commit is not reconciled (not on the
	// branch, not signed, invalid spec, …); nothing is applied meanwhile.
	Error string `json:"error,omitempty"`
}

// ErrNoGoodCommit is returned by LastGood when no apply both succeeded and
// verified installs.
var ErrNoGoodCommit = errors.New("no commit has an apply that succeeded and verified its installs")

// SetPin writes the pin (pin.json) and records it in watch-events.jsonl
// (outcome "pin", trigger "operator", author = p.By), so `rackctl history`
// shows who pinned what, when and why. The loop follows it at its next
// poll. Resolving and checking the commit is the caller's (Git.ReadCommit).
func SetPin(stateDir string, p state.Pin) error {
	dir := state.New(stateDir)
	if err := dir.SavePin(p); err != nil {
		return err
	}
	reason := "pinned by " + p.By
	if p.Rollback {
		reason = "rolled back by " + p.By + " to the last commit applied and verified"
	}
	if p.Reason != "" {
		reason += ": " + p.Reason
	}
	return dir.AppendWatchEvent(EventRecord{Time: p.At.UTC(), Trigger: TriggerOperator, Outcome: OutcomePin,
		Commit: p.Commit, Author: p.By, Reason: reason})
}

// Unpin removes the pin and records who did it; the loop returns to the
// branch head at its next poll. It reports whether there was a pin.
func Unpin(stateDir, by, reason string, now time.Time) (bool, error) {
	dir := state.New(stateDir)
	old, err := dir.LoadPin()
	if err != nil {
		// An unreadable pin is removed all the same: unpin is the way out.
		old = &state.Pin{}
	}
	had, err := dir.RemovePin()
	if err != nil || !had {
		return false, err
	}
	why := "unpinned by " + by
	if reason != "" {
		why += ": " + reason
	}
	return true, dir.AppendWatchEvent(EventRecord{Time: now.UTC(), Trigger: TriggerOperator, Outcome: OutcomeUnpin,
		Commit: old.Commit, Author: by, Reason: why})
}

// LastGood returns the newest commit of history.jsonl with an apply that
// succeeded and whose verify phase saw at least one node run its config
// (HistoryRecord.Verified): "applied" alone is not enough, nor an install
// recorded without looking. It fails with ErrNoGoodCommit when there is
// none.
func LastGood(stateDir string) (state.HistoryRecord, error) {
	recs, err := state.New(stateDir).ReadHistory()
	if err != nil {
		return state.HistoryRecord{}, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Commit != "" && r.Outcome == state.OutcomeSuccess && r.Verified > 0 {
			return r, nil
		}
	}
	return state.HistoryRecord{}, fmt.Errorf("%w in %s", ErrNoGoodCommit, state.New(stateDir).File(state.HistoryFile))
}

// pinState is what the loop knows of the pin; owned by the loop goroutine.
type pinState struct {
	pin     *state.Pin // as last read; nil: not pinned
	loadErr string     // pin.json unreadable
	seen    bool       // the source delivered its first event: the clone exists
	// reported holds the commits already recorded as "pinned", so a
	// head re-sent by the source is not recorded again.
	reported map[string]bool
}

// pinChanged reads pin.json and tells whether it differs from what the
// loop follows.
func (w *Watcher) pinChanged() bool {
	p, err := w.state.LoadPin()
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	old := w.pins.pin
	same := (p == nil) == (old == nil) && (p == nil || *p == *old) && errText == w.pins.loadErr
	w.pins.pin, w.pins.loadErr = p, errText
	return !same
}

// followPin works out what the pin now says the loop reconciles: the
// pinned commit, or the branch head when the pin is gone (nil when there
// is none yet). A pin the loop cannot follow is recorded and returned as
// the error.
func (w *Watcher) followPin(ctx context.Context) (*desired, Trigger, error) {
	p := w.pins.pin
	if w.pins.loadErr != "" {
		return nil, TriggerPin, w.pinFailed(state.Pin{}, errors.New(w.pins.loadErr))
	}
	w.m.pinned.Reset()
	if p == nil {
		w.setPinStatus(nil, "")
		w.log.Info("unpinned: following the branch head again")
		return w.head, TriggerUnpin, nil
	}
	w.m.pinned.WithLabelValues(p.Commit).Set(1)
	if w.head != nil && w.head.rev.Commit == p.Commit {
		w.setPinStatus(p, "")
		return w.head, TriggerPin, nil
	}
	if w.cfg.Pins == nil {
		return nil, TriggerPin, w.pinFailed(*p, errors.New("the watched source is no git repository: a pin needs watch --repo"))
	}
	rev, err := w.cfg.Pins.ReadCommit(ctx, p.Commit)
	if err != nil {
		return nil, TriggerPin, w.pinFailed(*p, err)
	}
	rack, err := parse(*rev)
	if err != nil {
		return nil, TriggerPin, w.pinFailed(*p, fmt.Errorf("%s at %s is not valid: %w", rev.Path, shortCommit(rev.Commit), err))
	}
	w.setPinStatus(p, "")
	w.log.Info("pinned: reconciling the pinned commit instead of the branch head", "pin", p.Commit, "by", p.By)
	return &desired{rev: *rev, rack: rack}, TriggerPin, nil
}

// pinFailed records a pin the loop cannot follow. Nothing is reconciled
// until the pin is fixed or removed: applying the head instead would
// ignore the operator, and the last revision may be what they pinned away
// from.
func (w *Watcher) pinFailed(p state.Pin, err error) error {
	err = fmt.Errorf("pin %s: %w; nothing is applied until it is fixed or removed (rackctl unpin)", shortCommit(p.Commit), err)
	w.log.Error("pin not followed", "err", err)
	w.cur = nil
	w.stopRetry()
	w.setHeld(nil, "")
	w.setPinStatus(&p, err.Error())
	w.setStatus(func(s *Status) { s.LastError = err.Error() })
	w.record(EventRecord{Trigger: TriggerPin, Outcome: OutcomeFailed, Commit: p.Commit, Reason: err.Error()})
	return err
}

func (w *Watcher) setPinStatus(p *state.Pin, errText string) {
	w.setStatus(func(s *Status) {
		if p == nil {
			s.Pin = nil
			return
		}
		s.Pin = &PinStatus{Pin: *p, Error: errText}
	})
}

// reportPinned records a new head the pin keeps from being applied, once.
func (w *Watcher) reportPinned(rev source.Revision) {
	if w.pins.reported == nil {
		w.pins.reported = map[string]bool{}
	}
	if w.pins.reported[rev.Commit] {
		return
	}
	w.pins.reported[rev.Commit] = true
	w.log.Info("new revision not applied: pinned", "commit", rev.Commit, "pin", w.pins.pin.Commit)
	w.m.revisions.WithLabelValues(string(TriggerRevision), string(OutcomePinned)).Inc()
	rec := revRecord(rev, TriggerRevision, OutcomePinned)
	rec.Reason = "not applied: pinned to " + shortCommit(w.pins.pin.Commit) + " by " + w.pins.pin.By
	w.record(rec)
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

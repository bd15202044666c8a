package watch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rackctl/rackctl/state"
)

// Names in the state dir (kept here for callers; the state package owns
// them).
const (
	EventsFile   = state.WatchEventsFile
	StateFile    = state.WatchStateFile
	ApprovalsDir = state.ApprovalsDir
)

// Outcome is what the loop did with a revision.
type Outcome = state.WatchOutcome

const (
	// OutcomeApplied: the plan was applied; history.jsonl has the apply.
	OutcomeApplied Outcome = "applied"
	// OutcomeApplyFailed: the apply ran and failed (history.jsonl has it
	// too when it got past its checks); it is retried with backoff.
	OutcomeApplyFailed Outcome = "apply-failed"
	// OutcomeUnchanged: the plan was empty; nothing ran.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeRejected: the spec is invalid; it never reached plan.
	OutcomeRejected Outcome = "rejected"
	// OutcomeSkipped: the source refused the commit (unsigned, unknown
	// key, bad signature, not a fast-forward).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeHeld: the plan waits for `rackctl approve` or a window.
	OutcomeHeld Outcome = "held"
	// OutcomeFailed: planning failed or the reconcile panicked; retried
	// with backoff.
	OutcomeFailed Outcome = "failed"
	// OutcomeCancelled: the loop was stopped during the apply.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomePinned: a new revision not applied because a rollback pin
	// holds the rack at another commit (rackctl pin, rollback).
	OutcomePinned Outcome = "pinned"
	// OutcomePin and OutcomeUnpin record an operator's rackctl pin (or
	// rollback) and unpin, with who (Author) and why (Reason).
	OutcomePin   Outcome = "pin"
	OutcomeUnpin Outcome = "unpin"
	// OutcomeRolloutStopped: a wave of the plan's rollout did not become
	// healthy in time (history.jsonl names the wave and the nodes); the
	// later waves' nodes were left untouched. Retried with backoff: the
	// next plan tries the unhealthy nodes first, as its canary.
	OutcomeRolloutStopped Outcome = "rollout-stopped"
)

// Trigger is why the loop reconciled.
type Trigger = state.WatchTrigger

const (
	TriggerRevision Trigger = "revision" // a new revision from the source
	TriggerDrift    Trigger = "drift"    // the drift interval
	TriggerRetry    Trigger = "retry"    // backoff after a failure
	TriggerRelease  Trigger = "release"  // an approval or an opened window
	TriggerPin      Trigger = "pin"      // a pin was set: its commit is reconciled
	TriggerUnpin    Trigger = "unpin"    // the pin went: the head is reconciled
	TriggerOperator Trigger = "operator" // rackctl pin, unpin, rollback
)

// EventRecord is one line of watch-events.jsonl ([state.WatchEvent]).
type EventRecord = state.WatchEvent

// ErrAmbiguousCommit is returned by Approve when a prefix names more than
// one held commit.
var ErrAmbiguousCommit = errors.New("commit prefix matches more than one held commit")

// Approve records the approval of commit in stateDir; the loop picks it up
// at its next poll, re-plans the held commit and applies it even over the
// blast-radius limit. A prefix of at least 7 characters of a commit the
// loop holds (watch-events.jsonl) is expanded; anything else is taken as
// the full commit. Approve returns the commit it approved.
func Approve(stateDir, commit string) (string, error) {
	commit = strings.TrimSpace(commit)
	if err := state.CheckCommitName(commit); err != nil {
		return "", err
	}
	full := commit
	dir := state.New(stateDir)
	evs, err := dir.ReadWatchEvents()
	if err != nil {
		return "", err
	}
	if len(commit) >= 7 {
		matches := map[string]bool{}
		for _, e := range evs {
			if e.Outcome == OutcomeHeld && strings.HasPrefix(e.Commit, commit) {
				matches[e.Commit] = true
			}
		}
		if len(matches) > 1 {
			return "", fmt.Errorf("approve %s: %w", commit, ErrAmbiguousCommit)
		}
		for c := range matches {
			full = c
		}
	}
	if err := dir.WriteApproval(full); err != nil {
		return "", err
	}
	return full, nil
}

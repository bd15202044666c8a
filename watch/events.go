package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

// Names in the state dir.
const (
	// EventsFile holds one EventRecord per line: what the loop did with
	// each revision, including those that never reached apply.
	EventsFile = "watch-events.jsonl"
	// StateFile records the last revision the loop applied (or found
	// nothing to do for), so a restart tells the git source where it was.
	StateFile = "watch-state.json"
	// ApprovalsDir holds one empty file per approved commit.
	ApprovalsDir = "approvals"
)

// Outcome is what the loop did with a revision.
type Outcome string

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
)

// Trigger is why the loop reconciled.
type Trigger string

const (
	TriggerRevision Trigger = "revision" // a new revision from the source
	TriggerDrift    Trigger = "drift"    // the drift interval
	TriggerRetry    Trigger = "retry"    // backoff after a failure
	TriggerRelease  Trigger = "release"  // an approval or an opened window
)

// EventRecord is one line of watch-events.jsonl. Records with Outcome
// applied or apply-failed mirror a history.jsonl record of the same commit
// (reconcile writes that one) and add the author and trigger.
type EventRecord struct {
	Time        time.Time `json:"time"`
	Trigger     Trigger   `json:"trigger"`
	Outcome     Outcome   `json:"outcome"`
	Commit      string    `json:"commit,omitempty"`
	Author      string    `json:"author,omitempty"`
	AuthorEmail string    `json:"authorEmail,omitempty"`
	CommitTime  time.Time `json:"commitTime,omitzero"`
	SignedBy    string    `json:"signedBy,omitempty"`
	// Planned counts the plan's changes, when a plan was made.
	Planned *reconcile.Counts `json:"planned,omitempty"`
	// Policy is the verdict on the plan, when it had disruptive changes.
	Policy *Decision `json:"policy,omitempty"`
	// Reason says why, for every outcome but applied and unchanged.
	Reason string `json:"reason,omitempty"`
	// Diagnostics are the positioned validation errors of a rejected spec.
	Diagnostics []schema.Diagnostic `json:"diagnostics,omitempty"`
}

// ReadEvents returns the records of stateDir's watch-events.jsonl, oldest
// first; no file means no records.
func ReadEvents(stateDir string) ([]EventRecord, error) {
	out, err := atomicfile.ReadJSONLines[EventRecord](filepath.Join(stateDir, EventsFile))
	if err != nil {
		return nil, fmt.Errorf("read watch events: %w", err)
	}
	return out, nil
}

func appendEvent(stateDir string, r EventRecord) error {
	if err := atomicfile.AppendJSONLine(filepath.Join(stateDir, EventsFile), r); err != nil {
		return fmt.Errorf("watch events: %w", err)
	}
	return nil
}

// State is the content of watch-state.json.
type State struct {
	LastApplied string    `json:"lastApplied"`
	Time        time.Time `json:"time"`
}

// LastApplied returns the commit the loop last applied in stateDir, for
// source.GitConfig.LastApplied; empty when none was.
func LastApplied(stateDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("watch state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("watch state %s: %w", filepath.Join(stateDir, StateFile), err)
	}
	return s.LastApplied, nil
}

func saveState(stateDir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("watch state: %w", err)
	}
	return atomicfile.Write(filepath.Join(stateDir, StateFile), append(b, '\n'), 0o644)
}

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
	if err := checkCommitName(commit); err != nil {
		return "", err
	}
	full := commit
	evs, err := ReadEvents(stateDir)
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
	if err := atomicfile.Write(approvalPath(stateDir, full), nil, 0o644); err != nil {
		return "", fmt.Errorf("approve %s: %w", full, err)
	}
	return full, nil
}

func checkCommitName(c string) error {
	if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\\x00") || len(c) > 200 {
		return fmt.Errorf("approve: %q is not a commit hash", c)
	}
	return nil
}

func approvalPath(stateDir, commit string) string {
	return filepath.Join(stateDir, ApprovalsDir, commit)
}

// approved tells whether commit has an approval file.
func approved(stateDir, commit string) bool {
	if checkCommitName(commit) != nil {
		return false
	}
	_, err := os.Stat(approvalPath(stateDir, commit))
	return err == nil
}

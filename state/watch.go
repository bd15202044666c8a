package state

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
	"github.com/rackctl/rackctl/schema"
)

// WatchOutcome is what the watch loop did with a revision (its values are
// the watch package's Outcome constants).
type WatchOutcome string

// WatchTrigger is why the watch loop reconciled (the watch package's
// Trigger constants).
type WatchTrigger string

// PolicyDecision is the blast-radius policy's verdict on a plan as
// recorded in watch-events.jsonl; the watch package's Decision is this
// type with its methods.
type PolicyDecision struct {
	// Disruptive lists, by role, the nodes with disruptive changes.
	Disruptive map[string][]string `json:"disruptive,omitempty"`
	// OverLimit names the roles whose limit the plan exceeds, e.g.
	// "worker: 3 nodes > limit 1".
	OverLimit []string `json:"overLimit,omitempty"`
	// OutsideWindow is set when the plan is disruptive and now is in no
	// allowed window.
	OutsideWindow bool `json:"outsideWindow,omitempty"`
	// Approved is set when an approval lifted the limit.
	Approved bool `json:"approved,omitempty"`
}

// WatchEvent is one line of watch-events.jsonl. Records with Outcome
// applied or apply-failed mirror a history.jsonl record of the same commit
// (the apply writes that one) and add the author and trigger.
type WatchEvent struct {
	Time        time.Time    `json:"time"`
	Trigger     WatchTrigger `json:"trigger"`
	Outcome     WatchOutcome `json:"outcome"`
	Commit      string       `json:"commit,omitempty"`
	Author      string       `json:"author,omitempty"`
	AuthorEmail string       `json:"authorEmail,omitempty"`
	CommitTime  time.Time    `json:"commitTime,omitzero"`
	SignedBy    string       `json:"signedBy,omitempty"`
	// Planned counts the plan's changes, when a plan was made.
	Planned *Counts `json:"planned,omitempty"`
	// Policy is the verdict on the plan, when it had disruptive changes.
	Policy *PolicyDecision `json:"policy,omitempty"`
	// Reason says why, for every outcome but applied and unchanged.
	Reason string `json:"reason,omitempty"`
	// Diagnostics are the positioned validation errors of a rejected spec.
	Diagnostics []schema.Diagnostic `json:"diagnostics,omitempty"`
	// Failed are the changes an apply-failed apply tried and saw fail.
	Failed []WatchFailure `json:"failed,omitempty"`
}

// WatchFailure is one change that failed in an apply: its layer (the
// phase), node and address, and the error it ended with.
type WatchFailure struct {
	Layer   string `json:"layer"`
	Node    string `json:"node,omitempty"`
	Address string `json:"address"`
	Error   string `json:"error"`
	// TimedOut is set when the error says the wait for the node ran out
	// (a verify that never saw the node run its config in time).
	TimedOut bool `json:"timedOut,omitempty"`
}

// ReadWatchEvents returns the records of watch-events.jsonl, oldest first;
// no file means no records.
func (d Dir) ReadWatchEvents() ([]WatchEvent, error) {
	out, err := atomicfile.ReadJSONLines[WatchEvent](d.File(WatchEventsFile))
	if err != nil {
		return nil, fmt.Errorf("read watch events: %w", err)
	}
	return out, nil
}

// AppendWatchEvent adds r as the last line of watch-events.jsonl.
func (d Dir) AppendWatchEvent(r WatchEvent) error {
	if err := atomicfile.AppendJSONLine(d.File(WatchEventsFile), r); err != nil {
		return fmt.Errorf("watch events: %w", err)
	}
	return nil
}

// WatchState is the content of watch-state.json: the last revision the
// loop applied (or found nothing to do for), so a restart tells the git
// source where it was.
type WatchState struct {
	LastApplied string    `json:"lastApplied"`
	Time        time.Time `json:"time"`
}

// LastApplied returns the commit the watch loop last applied; empty when
// none was.
func (d Dir) LastApplied() (string, error) {
	var s WatchState
	_, err := d.readJSON(WatchStateFile, "watch state", "", &s)
	return s.LastApplied, err
}

// SaveWatchState writes watch-state.json atomically.
func (d Dir) SaveWatchState(s WatchState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("watch state: %w", err)
	}
	return atomicfile.Write(d.File(WatchStateFile), append(b, '\n'), 0o644)
}

// CheckCommitName refuses a commit name that cannot be an approval file's
// name: the name becomes a path under approvals/, so a separator, a dot
// name or NUL would write elsewhere or fail.
func CheckCommitName(c string) error {
	if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\\x00") || len(c) > 200 {
		return fmt.Errorf("approve: %q is not a commit hash", c)
	}
	return nil
}

// ApprovalPath is the file whose presence approves commit.
func (d Dir) ApprovalPath(commit string) string {
	return filepath.Join(d.path, ApprovalsDir, commit)
}

// WriteApproval records the approval of commit (an empty file under
// approvals/).
func (d Dir) WriteApproval(commit string) error {
	if err := CheckCommitName(commit); err != nil {
		return err
	}
	if err := atomicfile.Write(d.ApprovalPath(commit), nil, 0o644); err != nil {
		return fmt.Errorf("approve %s: %w", commit, err)
	}
	return nil
}

// Approved tells whether commit has an approval file.
func (d Dir) Approved(commit string) bool {
	if CheckCommitName(commit) != nil {
		return false
	}
	_, err := os.Stat(d.ApprovalPath(commit))
	return err == nil
}

// RemoveApproval deletes commit's approval once it has been used; none is
// not an error.
func (d Dir) RemoveApproval(commit string) error {
	if err := CheckCommitName(commit); err != nil {
		return err
	}
	if err := os.Remove(d.ApprovalPath(commit)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove approval %s: %w", commit, err)
	}
	return nil
}

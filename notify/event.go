package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// FormatVersion is the version of the Event JSON; a change that removes or
// renames a field raises it.
const FormatVersion = 1

// Kind is what an event tells.
type Kind string

const (
	KindApplied        Kind = "commit.applied"   // a commit (or release of a held one) was applied
	KindUnchanged      Kind = "commit.unchanged" // a new commit needed nothing (off by default)
	KindHeld           Kind = "commit.held"      // a plan waits for approval or a window
	KindRejected       Kind = "commit.rejected"  // refused: signature/source or validation
	KindApplyFailed    Kind = "apply.failed"     // planning or applying failed; retried with backoff
	KindCancelled      Kind = "apply.cancelled"  // the loop stopped during an apply
	KindDriftFound     Kind = "drift.found"      // a drift check found changes it did not fix
	KindDriftFixed     Kind = "drift.fixed"      // a drift check's changes were applied
	KindInstallFailed  Kind = "install.failed"   // nodes were installed but not seen running their config
	KindRolloutStopped Kind = "rollout.stopped"  // a wave did not become healthy; later waves left untouched
	KindPinned         Kind = "commit.pinned"    // a new commit not applied: a rollback pin holds the rack
	KindPinChanged     Kind = "pin.changed"      // an operator pinned (rackctl pin, rollback) or unpinned
	KindOther          Kind = "watch.other"      // an outcome this rackctl does not know
	KindTest           Kind = "test"             // `rackctl notify test`
)

// KindMaintenanceChanged: an operator took a node out of automation, or
// back, without a commit (rackctl maintenance NODE on|off).
const KindMaintenanceChanged Kind = "maintenance.changed"

// Kinds lists every kind, in the order of the docs.
var Kinds = []Kind{KindApplied, KindUnchanged, KindHeld, KindRejected, KindApplyFailed, KindCancelled,
	KindDriftFound, KindDriftFixed, KindInstallFailed, KindRolloutStopped, KindPinned, KindPinChanged, KindMaintenanceChanged, KindOther, KindTest}

// DefaultKinds are the kinds a target gets when its config names none:
// all but commit.unchanged.
func DefaultKinds() []Kind {
	return slices.DeleteFunc(slices.Clone(Kinds), func(k Kind) bool { return k == KindUnchanged })
}

// Event is one notification: the JSON body of a webhook and a command's
// stdin (docs/notifications.md).
type Event struct {
	Version int       `json:"version"`
	ID      string    `json:"id"` // the same for every retry of one event
	Kind    Kind      `json:"kind"`
	Time    time.Time `json:"time"`
	// Summary is one line for people (the Slack text).
	Summary string  `json:"summary"`
	Rack    string  `json:"rack,omitempty"`   // the spec's rack name, once a valid spec was read
	Host    string  `json:"host,omitempty"`   // the management node
	Source  string  `json:"source,omitempty"` // what watch follows (repo@branch:path or file)
	Trigger string  `json:"trigger,omitempty"`
	Outcome string  `json:"outcome,omitempty"` // the watch record's outcome
	Commit  *Commit `json:"commit,omitempty"`
	// Changes are the plan's counts, when a plan was made.
	Changes  *state.Counts    `json:"changes,omitempty"`
	Held     *Held            `json:"held,omitempty"`
	Rejected *Rejected        `json:"rejected,omitempty"`
	Failure  *Failure         `json:"failure,omitempty"`
	Installs []InstallFailure `json:"installs,omitempty"`
	Reason   string           `json:"reason,omitempty"`
}

// Commit is the revision an event is about.
type Commit struct {
	ID          string    `json:"id"`
	Author      string    `json:"author,omitempty"`
	AuthorEmail string    `json:"authorEmail,omitempty"`
	Time        time.Time `json:"time,omitzero"`
	SignedBy    string    `json:"signedBy,omitempty"`
}

// Held says why a plan waits and how to let it go.
type Held struct {
	Reason        string              `json:"reason"`
	OverLimit     []string            `json:"overLimit,omitempty"` // e.g. "worker: 3 nodes > limit 1"
	OutsideWindow bool                `json:"outsideWindow,omitempty"`
	Disruptive    map[string][]string `json:"disruptive,omitempty"` // nodes by role
	// Approve is the command that lets it go over the limit (absent when
	// only a window holds it).
	Approve string `json:"approve,omitempty"`
}

// Rejected says why a commit was refused.
type Rejected struct {
	Cause       string       `json:"cause"` // "validation" or "source" (signature, fast-forward)
	Error       string       `json:"error"`
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
}

// Diagnostic is one positioned validation error.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Failure is a failed plan or apply: the phase it failed in (the layer
// of the failed changes, or "plan"), the nodes it failed for.
type Failure struct {
	Phase string   `json:"phase"`
	Nodes []string `json:"nodes,omitempty"`
	Error string   `json:"error"`
}

// InstallFailure is a node whose install was not seen to finish.
type InstallFailure struct {
	Node     string `json:"node"`
	TimedOut bool   `json:"timedOut"`
	Error    string `json:"error"`
}

// Origin says where events come from and how to approve a held commit.
type Origin struct {
	Host   string
	Source string
	// Rack returns the rack's name (the newest valid spec's); nil or ""
	// leaves it out.
	Rack func() string
	// ApproveCommand returns the command that approves commit; nil means
	// "rackctl approve COMMIT".
	ApproveCommand func(commit string) string
}

func (o Origin) rack() string {
	if o.Rack == nil {
		return ""
	}
	return o.Rack()
}

func (o Origin) approve(commit string) string {
	if o.ApproveCommand != nil {
		return o.ApproveCommand(commit)
	}
	return "rackctl approve " + commit
}

// FromRecord turns one watch record into the events it tells: none for a
// drift check that changed nothing, two for an apply whose installs failed
// (apply.failed and install.failed). An outcome it does not know is a
// KindOther event.
func FromRecord(r state.WatchEvent, o Origin) []Event {
	base := Event{Version: FormatVersion, Time: r.Time.UTC(), Rack: o.rack(), Host: o.Host, Source: o.Source,
		Trigger: string(r.Trigger), Outcome: string(r.Outcome), Changes: r.Planned, Reason: r.Reason}
	if r.Commit != "" {
		base.Commit = &Commit{ID: r.Commit, Author: r.Author, AuthorEmail: r.AuthorEmail, Time: r.CommitTime, SignedBy: r.SignedBy}
	}
	drift := r.Trigger == watch.TriggerDrift
	var evs []Event
	switch r.Outcome {
	case watch.OutcomeApplied:
		evs = append(evs, with(base, pick(drift, KindDriftFixed, KindApplied)))
	case watch.OutcomeUnchanged:
		if !drift {
			evs = append(evs, with(base, KindUnchanged))
		}
	case watch.OutcomeHeld:
		e := with(base, pick(drift, KindDriftFound, KindHeld))
		e.Held = held(r, o)
		evs = append(evs, e)
	case watch.OutcomeRejected:
		e := with(base, KindRejected)
		e.Rejected = &Rejected{Cause: "validation", Error: r.Reason, Diagnostics: diagnostics(r)}
		evs = append(evs, e)
	case watch.OutcomeSkipped:
		e := with(base, KindRejected)
		e.Rejected = &Rejected{Cause: "source", Error: r.Reason}
		evs = append(evs, e)
	case watch.OutcomeApplyFailed, watch.OutcomeFailed:
		e := with(base, KindApplyFailed)
		e.Failure = failure(r)
		evs = append(evs, e)
		if inst := installFailures(r); len(inst) > 0 {
			ie := with(base, KindInstallFailed)
			ie.Installs = inst
			evs = append(evs, ie)
		}
	case watch.OutcomeRolloutStopped:
		e := with(base, KindRolloutStopped)
		e.Failure = failure(r)
		evs = append(evs, e)
	case watch.OutcomePinned:
		evs = append(evs, with(base, KindPinned))
	case watch.OutcomePin, watch.OutcomeUnpin:
		evs = append(evs, with(base, KindPinChanged))
	case watch.OutcomeMaintenance:
		evs = append(evs, with(base, KindMaintenanceChanged))
	case watch.OutcomeCancelled:
		evs = append(evs, with(base, KindCancelled))
	default:
		evs = append(evs, with(base, KindOther))
	}
	for i := range evs {
		evs[i].ID = eventID(r, evs[i].Kind)
		evs[i].Summary = summary(evs[i])
	}
	return evs
}

func with(e Event, k Kind) Event { e.Kind = k; return e }

func pick(cond bool, yes, no Kind) Kind {
	if cond {
		return yes
	}
	return no
}

func held(r state.WatchEvent, o Origin) *Held {
	h := &Held{Reason: r.Reason}
	if p := r.Policy; p != nil {
		h.OverLimit, h.OutsideWindow, h.Disruptive = p.OverLimit, p.OutsideWindow, p.Disruptive
		if len(p.OverLimit) > 0 && !p.Approved && r.Commit != "" {
			h.Approve = o.approve(r.Commit)
		}
	}
	return h
}

func diagnostics(r state.WatchEvent) []Diagnostic {
	var out []Diagnostic
	for _, d := range r.Diagnostics {
		out = append(out, Diagnostic{File: d.File, Line: d.Line, Col: d.Col, Field: d.Field, Message: d.Message})
	}
	return out
}

// failure names the phase: the layer of the first failed change, "plan"
// when no plan was made, "apply" when the apply failed before any change.
func failure(r state.WatchEvent) *Failure {
	f := &Failure{Phase: "apply", Error: r.Reason}
	if r.Outcome == watch.OutcomeFailed {
		f.Phase = "plan"
	}
	for _, c := range r.Failed {
		if f.Phase == "apply" || f.Phase == "plan" {
			f.Phase = c.Layer
		}
		if c.Node != "" && !slices.Contains(f.Nodes, c.Node) {
			f.Nodes = append(f.Nodes, c.Node)
		}
	}
	return f
}

func installFailures(r state.WatchEvent) []InstallFailure {
	var out []InstallFailure
	for _, c := range r.Failed {
		if c.Layer == string(reconcile.LayerVerify) && c.Node != "" {
			out = append(out, InstallFailure{Node: c.Node, TimedOut: c.TimedOut, Error: c.Error})
		}
	}
	return out
}

// eventID is stable for one record and kind, so a receiver can drop the
// duplicate a retry after a lost answer makes.
func eventID(r state.WatchEvent, k Kind) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", r.Time.UTC().Format(time.RFC3339Nano), r.Commit, r.Outcome, r.Trigger, k))
	return hex.EncodeToString(h[:8])
}

// summary is the event in one line.
func summary(e Event) string {
	c := "-"
	if e.Commit != nil {
		c = short(e.Commit.ID)
	}
	switch e.Kind {
	case KindApplied, KindDriftFixed, KindUnchanged:
		what := map[Kind]string{KindApplied: "applied", KindDriftFixed: "drift fixed", KindUnchanged: "nothing to change"}[e.Kind]
		return fmt.Sprintf("%s %s%s", c, what, counts(e.Changes))
	case KindHeld, KindDriftFound:
		s := fmt.Sprintf("%s held%s: %s", c, counts(e.Changes), e.Held.Reason)
		if e.Kind == KindDriftFound {
			s = "drift found, " + s
		}
		return s
	case KindRejected:
		return fmt.Sprintf("%s rejected (%s): %s", c, e.Rejected.Cause, e.Rejected.Error)
	case KindApplyFailed:
		s := fmt.Sprintf("%s failed in %s", c, e.Failure.Phase)
		if len(e.Failure.Nodes) > 0 {
			s += " (" + strings.Join(e.Failure.Nodes, ", ") + ")"
		}
		return s + ": " + e.Failure.Error
	case KindInstallFailed:
		var parts []string
		for _, i := range e.Installs {
			parts = append(parts, i.Node+pickStr(i.TimedOut, " timed out", " failed"))
		}
		return fmt.Sprintf("%s install: %s", c, strings.Join(parts, ", "))
	case KindCancelled:
		return fmt.Sprintf("%s apply cancelled: the watch loop stopped", c)
	case KindRolloutStopped:
		return fmt.Sprintf("%s rollout stopped: %s", c, e.Reason)
	case KindMaintenanceChanged:
		return e.Reason // "maintenance NODE on locally by WHO: WHY": no commit to name
	case KindTest:
		return "test notification from rackctl"
	}
	return fmt.Sprintf("%s %s: %s", c, e.Outcome, e.Reason)
}

func counts(n *state.Counts) string {
	if n == nil {
		return ""
	}
	return fmt.Sprintf(" (+%d ~%d -%d)", n.Add, n.Change, n.Destroy)
}

func pickStr(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// TestEvent is what `rackctl notify test` sends.
func TestEvent(now time.Time, o Origin) Event {
	e := Event{Version: FormatVersion, Kind: KindTest, Time: now.UTC(), Rack: o.rack(), Host: o.Host, Source: o.Source}
	e.ID = eventID(state.WatchEvent{Time: now}, KindTest)
	e.Summary = summary(e)
	return e
}

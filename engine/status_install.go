package engine

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// The INSTALL column of status: what rackctl saw of each node's install.
// It joins two observations that can disagree — the provisioner's flag
// file (what Racker, an older rackctl or an operator may also write) and
// the verify layer's last outcome (installs.json) — and says which one it
// stands on rather than guessing.

// Install states of InstallStatus.State.
const (
	InstallInstalled = "installed"
	InstallPending   = "pending"
	InstallFailed    = "failed"
	InstallExcluded  = "excluded"
	// InstallUnknown: the install records could not be read.
	InstallUnknown = "unknown"
)

// InstallStatus is one node's install as status reports it.
type InstallStatus struct {
	State string `json:"state"`
	// Verify is how rackctl saw an install or a failure: ssh or cluster
	// (observed), flag (assumed, --verify flag); "" when it did not see it
	// (a flag file rackctl's verify did not write).
	Verify string    `json:"verify,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	Commit string    `json:"commit,omitempty"`
}

// installObservation is what status read for the INSTALL column.
type installObservation struct {
	records state.Installs
	err     error // the records could not be read
}

// installOf is n's install from its flag file and the verify layer's
// record. A record of another MAC is about the server n replaced, and a
// record older than the flag file's removal cannot be told apart from a
// current one, so only these hold:
//   - flag file + installed record: installed, as the record says;
//   - flag file otherwise: installed, not observed by rackctl;
//   - no flag file + failed record: the last verify failed, nothing since;
//   - no flag file otherwise: pending.
func installOf(n *schema.Node, flag bool, obs installObservation) InstallStatus {
	if n.Exclude {
		return InstallStatus{State: InstallExcluded}
	}
	rec, ok := obs.records.Nodes[n.Name]
	if ok && !strings.EqualFold(rec.MAC, n.MAC) {
		ok = false
	}
	switch {
	case obs.err != nil:
		return InstallStatus{State: InstallUnknown, Reason: obs.err.Error()}
	case flag && ok && rec.Outcome == state.InstallInstalled:
		return InstallStatus{State: InstallInstalled, Verify: rec.Verify, Since: rec.Time, Commit: rec.Commit}
	case flag:
		return InstallStatus{State: InstallInstalled}
	case ok && rec.Outcome == state.InstallFailed:
		return InstallStatus{State: InstallFailed, Verify: rec.Verify, Since: rec.Time, Reason: rec.Reason, Commit: rec.Commit}
	}
	return InstallStatus{State: InstallPending}
}

// Text is the INSTALL cell, e.g. "install failed (timed out after 3m0s,
// Dec 2 15:40 UTC)". It is not escaped: the reason is a node's or a
// cluster's words, and the caller escapes cells.
func (s InstallStatus) Text() string {
	switch s.State {
	case InstallInstalled:
		switch s.Verify {
		case "":
			return "installed (not observed by rackctl)"
		case "flag":
			return "installed (assumed: --verify flag)"
		}
		return "installed"
	case InstallPending:
		return "install pending"
	case InstallFailed:
		return "install failed (" + s.ShortReason() + ", " + s.Since.UTC().Format("Jan 2 15:04 UTC") + ")"
	case InstallExcluded:
		return "excluded"
	}
	return "unknown (install records unreadable)"
}

// shortReasonLen bounds the reason in the INSTALL cell; the whole reason
// is printed below the table.
const shortReasonLen = 60

// ShortReason is the gist of a failure for a table cell: of the reason
// without the "verify NODE: " every verify error starts with and without
// its advice (after "; "), the outermost context (what failed: "timed out
// after 3m0s") and the innermost (the cause: "No route to host") — the
// ends of a chain of wrapped errors — cut to shortReasonLen characters.
func (s InstallStatus) ShortReason() string {
	r := s.Reason
	if rest, ok := strings.CutPrefix(r, "verify "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			r = after
		}
	}
	if i := strings.Index(r, "; "); i > 0 {
		r = r[:i]
	}
	if parts := strings.Split(r, ": "); len(parts) > 2 {
		r = parts[0] + ": … " + parts[len(parts)-1]
	}
	if utf8.RuneCountInString(r) > shortReasonLen {
		r = string([]rune(r)[:shortReasonLen-1]) + "…"
	}
	if r == "" {
		return "no reason recorded"
	}
	return r
}

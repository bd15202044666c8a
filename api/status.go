package api

import (
	"time"

	"github.com/rackctl/rackctl/view"
)

// FormatVersion is the version of the documents this package serves:
// within a major version a field is only ever added.
const FormatVersion = "1.0"

// RackStatus is GET /api/status.
type RackStatus struct {
	FormatVersion string    `json:"format_version"`
	Rack          string    `json:"rack"` // the spec's rack name; "" before a valid spec was read
	GeneratedAt   time.Time `json:"generated_at"`
	// Watch is the loop's state; null when no loop runs (`rackctl serve`).
	Watch *WatchState `json:"watch"`
	// Held are the commits waiting for an approval or a window.
	Held []HeldCommit `json:"held"`
	// LastErrors are the newest failures, rejections and refusals, newest
	// first (at most MaxLastErrors).
	LastErrors []LastError `json:"last_errors"`
	// Summary counts Nodes by state.
	Summary Summary `json:"summary"`
	// Nodes is one entry per node of the spec, in spec order.
	Nodes []NodeState `json:"nodes"`
	// Observation says when the node states were read, or why they were not.
	Observation Observation `json:"observation"`
	// Status is the full `rackctl status -o json` document of that
	// observation; null until one finished.
	Status *view.Status `json:"status"`
}

// WatchState is the watch loop's own state.
type WatchState struct {
	Running     bool       `json:"running"`
	LastApplied string     `json:"last_applied,omitempty"`
	Current     string     `json:"current,omitempty"` // newest valid revision
	Failures    int        `json:"consecutive_failures"`
	LastError   string     `json:"last_error,omitempty"`
	NextRetry   *time.Time `json:"next_retry,omitempty"`
	// Pin is the rollback pin watch follows instead of the branch head.
	Pin *Pin `json:"pin,omitempty"`
}

// Pin is a rollback pin (rackctl pin, rollback).
type Pin struct {
	Commit   string    `json:"commit"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
	Rollback bool      `json:"rollback,omitempty"`
	// Error says why the pinned commit is not reconciled; nothing is
	// applied meanwhile.
	Error string `json:"error,omitempty"`
}

// HeldCommit is a commit the loop holds, with what releases it.
type HeldCommit struct {
	Commit        string           `json:"commit"`
	Author        string           `json:"author,omitempty"`
	Since         time.Time        `json:"since"`
	Reason        string           `json:"reason"`
	OverLimit     []string         `json:"over_limit,omitempty"`
	OutsideWindow bool             `json:"outside_window,omitempty"`
	Disruptive    []view.RoleNodes `json:"disruptive,omitempty"`
	// ApproveCommand is the command that releases it over its limit.
	ApproveCommand string `json:"approve_command"`
}

// LastError is one failed, rejected or refused revision.
type LastError struct {
	Time    time.Time `json:"time"`
	Commit  string    `json:"commit,omitempty"`
	Outcome string    `json:"outcome"`
	Message string    `json:"message"`
}

// MaxLastErrors bounds RackStatus.LastErrors.
const MaxLastErrors = 5

// Node states, one per node (NodeState.State).
const (
	StateOK          = "ok"          // installed (seen by rackctl or flag file) and running the rendered config, BMC reached, powered on
	StatePending     = "pending"     // install not yet seen
	StateDrift       = "drift"       // running another config than the rendered one
	StateFailed      = "failed"      // the last install failed or timed out
	StateUnreachable = "unreachable" // the BMC did not answer
	StateOff         = "off"         // the BMC reports the server powered off
	StateExcluded    = "excluded"    // excluded in the spec
	StateUnknown     = "unknown"     // not observed (yet), or observed only in part
)

// NodeState is one node's state in a word, and why.
type NodeState struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// RackUnit is the spec's rackUnit (1 = bottom); 0 (left out) when the
	// spec does not place the node.
	RackUnit int `json:"rack_unit,omitempty"`
	// BMCProtocol is how rackctl talks to the node's BMC (ipmi, redfish).
	BMCProtocol string `json:"bmc_protocol,omitempty"`
	// Maintenance is where the node's maintenance comes from: MaintenanceSpec
	// (rack.yaml) or MaintenanceLocal (rackctl maintenance, not committed:
	// drift from git); MaintenanceOffLocal when a local override takes it
	// out although rack.yaml says maintenance: true; left out otherwise.
	Maintenance string `json:"maintenance,omitempty"`
}

// Where a node's maintenance comes from (NodeState.Maintenance).
const (
	MaintenanceSpec     = "spec"
	MaintenanceLocal    = "local"
	MaintenanceOffLocal = "off-local"
)

// Summary counts nodes by state.
type Summary struct {
	Total       int `json:"total"`
	OK          int `json:"ok"`
	Pending     int `json:"pending"`
	Drift       int `json:"drift"`
	Failed      int `json:"failed"`
	Unreachable int `json:"unreachable"`
	Off         int `json:"off"`
	Excluded    int `json:"excluded"`
	Unknown     int `json:"unknown"`
}

// Observation states (Observation.State).
const (
	ObservationPending  = "pending"  // none finished yet
	ObservationObserved = "observed" // ObservedAt is when it finished
	ObservationFailed   = "failed"   // the last one failed; Error says why (Status is the one before, if any)
)

// Observation is when the node states were read.
type Observation struct {
	State      string     `json:"state"`
	ObservedAt *time.Time `json:"observed_at,omitempty"`
	Duration   string     `json:"duration,omitempty"`
	Error      string     `json:"error,omitempty"`
}
